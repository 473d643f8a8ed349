"""``python -m s2p``."""

import sys

from s2p.cli import main

if __name__ == "__main__":
    sys.exit(main())
