"""``s2p sync --dry-run``: what the next live-sync cycle would refresh in Plex, doing nothing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from s2p.config import Settings

if TYPE_CHECKING:
    from s2p.cli import _Commands


def add_parser(commands: _Commands) -> None:
    sync = commands.add_parser("sync", help="show what live sync would refresh in Plex next (--dry-run)")
    sync.add_argument("--dry-run", action="store_true", required=True,
                      help="print what the next cycle would do, without doing it")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from s2p.app.runtime import build_core, build_sync

    core = build_core(settings, with_index=False)
    service = build_sync(settings, core, forget=lambda scene_id: None)
    try:
        if service.store.since() is None:
            print("live sync has not looked at Stash yet: the server's first cycle sets the starting point "
                  f"({'on' if settings.plex.url and settings.sync.interval else 'off'}: [sync] interval "
                  f"{settings.sync.interval:g} s, [plex] url {'set' if settings.plex.url else 'not set'})")
            return 0
        report = service.cycle(dry_run=True)
        if report.error:
            print(f"cannot tell: {report.error}")
            return 1
        for line in report.plans:
            print(line)
        print(f"{report.changed} scene(s) changed since the last cycle ({report.queries} Stash queries); "
              f"{service.store.pending()} refresh(es) already queued. Nothing was done.")
        return 0
    finally:
        service.close()
        core.stop()
