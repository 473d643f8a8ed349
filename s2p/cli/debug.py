"""``s2p debug requests``: the requests Plex sent, as ``[debug] capture`` kept them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from s2p.config import Settings
from s2p.ops.capture import FILE_NAME, describe, read

if TYPE_CHECKING:
    from s2p.cli import _Commands


def add_parser(commands: _Commands) -> None:
    debug = commands.add_parser("debug", help="what s2p recorded for a bug report: Plex's latest requests")
    debug.add_argument("what", choices=["requests"], help="requests: Plex's latest requests ([debug] capture)")
    debug.add_argument("--json", action="store_true", help="as JSON, one object per request")


def run(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.state_dir / FILE_NAME
    records = read(path)[-settings.debug.capture:] if settings.debug.capture else read(path)
    if args.json:
        json.dump({"limit": settings.debug.capture, "count": len(records), "requests": records}, sys.stdout,
                  ensure_ascii=False, indent=2)
        print()
        return 0
    if not records:
        hint = ("set [debug] capture = 200 (S2P_DEBUG_CAPTURE=200), restart s2p and let Plex scan"
                if not settings.debug.capture else "Plex has sent nothing since capture was turned on")
        print(f"no requests recorded in {path}: {hint}")
        return 0
    for record in records:
        print(describe(record))
    print(f"\n{len(records)} request(s) from {path}; secrets are masked. Attach the output of "
          "`s2p debug requests --json` to a bug report.")
    return 0
