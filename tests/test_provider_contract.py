"""The provider contract (``provider_contract``) against s2p under waitress in
this process, with the ``s2p`` and ``start_s2p`` fixtures of ``conftest``."""

from provider_contract import *  # noqa: F401,F403
