"""``s2p gaps``: compare now and print the gaps, for people and for cron.

Exit status: 0 no open gaps, 1 open gaps exist, 3 the comparison could not
run (Plex or Stash unreachable, Plex not configured, the store unusable).
"""

from __future__ import annotations

import argparse
import json
import sys

from typing import TYPE_CHECKING, Any

from s2p.gaps.records import KINDS
from s2p.gaps.store import STATES

if TYPE_CHECKING:
    from s2p.cli import _Commands
    from s2p.config import Settings

EXIT_GAPS = 1
EXIT_FAILED = 3


def add_parser(commands: _Commands) -> None:
    gaps = commands.add_parser(
        "gaps", help="compare Plex with Stash now and print the gaps (exit 1 when there are any)",
        description="Compare Plex's libraries with Stash now and print what differs. Exit status: 0 no open "
                    "gaps, 1 open gaps, 3 the comparison could not run.")
    gaps.add_argument("--json", action="store_true", help="print the report as JSON")
    gaps.add_argument("--last", action="store_true",
                      help="do not compare: show what the last comparison (and Plex's scans) recorded")
    gaps.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    gaps.add_argument("--state", choices=STATES, default="open", help="which records to list (default: open)")
    actions = gaps.add_subparsers(dest="gaps_action", metavar="ACTION")
    dismiss = actions.add_parser("dismiss", help="hide a gap (or every open gap of one kind) until its item changes")
    dismiss.add_argument("id", type=int, nargs="?", help="the gap's number (#12 in the report)")
    dismiss.add_argument("--all-of", metavar="KIND", choices=KINDS, dest="all_of",
                         help=f"dismiss every open gap of this kind ({', '.join(KINDS)})")
    restore = actions.add_parser("restore", help="show a dismissed gap again")
    restore.add_argument("id", type=int, help="the gap's number")


def what(gap: dict[str, Any]) -> str:
    """What a record is about, in a few words: never "None" (a scene may have no title)."""
    return (gap["plex_path"] or gap["stash_path"] or gap["title"]
            or (f"scene {gap['scene_id']}" if gap["scene_id"] else "")
            or (f"Plex item {gap['rating_key']}" if gap["rating_key"] else "") or gap["reason"])


def run(settings: Settings, args: argparse.Namespace, configuration: str = "") -> int:
    from s2p.app.runtime import build_core
    from s2p.common.statedir import held_by_another
    from s2p.gaps.report import to_text
    from s2p.gaps.service import ComparisonFailed, GapService, GapsUnavailable
    from s2p.pms.connect import PlexError

    writes = not args.last or getattr(args, "gaps_action", None) is not None
    other = held_by_another(settings.state_dir, configuration) if writes and configuration else None
    if other:
        # Its /gaps page would show this command's comparison as its own.
        print(f"s2p gaps: the state directory {settings.state_dir} belongs to the s2p serving {other}; this "
              "command would write into its report. Fix: give this configuration its own [state] dir, or use "
              f"--config {other}", file=sys.stderr)
        return EXIT_FAILED
    # One comparison, read from Stash page by page: no index, no scheduler.
    core = build_core(settings, with_index=False)
    gaps = GapService.build(settings, stash=core.stash, path_map=core.path_map, version_of=lambda scene_id: None)
    try:
        if not gaps.open():
            print(f"s2p gaps: {gaps.problem}", file=sys.stderr)
            return EXIT_FAILED
        action = getattr(args, "gaps_action", None)
        if action == "dismiss" and getattr(args, "all_of", None):
            count = gaps.dismiss_kind(args.all_of)
            if args.json:
                print(json.dumps({"kind": args.all_of, "dismissed": count}))
            else:
                print(f"{count} open gap(s) of kind {args.all_of} dismissed (each comes back if its item changes; "
                      "s2p gaps --state dismissed lists them)")
            return 0
        if action in ("dismiss", "restore") and args.id is None:
            print(f"s2p gaps {action}: which gap? Fix: give its number (#12 in the report: s2p gaps {action} 12)"
                  + (", or --all-of KIND" if action == "dismiss" else ""), file=sys.stderr)
            return 2
        if action in ("dismiss", "restore"):
            gap = gaps.set_dismissed(args.id, action == "dismiss")
            if gap is None:
                print(f"s2p gaps: there is no gap record {args.id}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps(gap, indent=2, ensure_ascii=False))
            else:
                print(f"#{gap['id']} {'dismissed' if gap['dismissed_at'] else 'restored'}: {gap['label']}: "
                      f"{what(gap)}")
            return 0
        failed = None
        if not args.last:
            try:
                gaps.compare(trigger="cli")
            except (ComparisonFailed, PlexError, GapsUnavailable) as exc:
                failed = str(exc)
        kinds = tuple(args.kind or KINDS)
        report = gaps.report(kinds=kinds, state=args.state)
        if args.json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            print(to_text(report))
        if failed:
            print(f"s2p gaps: the comparison could not run: {failed}", file=sys.stderr)
            return EXIT_FAILED
        still_open = gaps.report(kinds=kinds, state="open", limit=0)["total"]
        return EXIT_GAPS if still_open else 0
    finally:
        gaps.stop()
        core.stop()
