"""``s2p match``: how one file would be matched, and why."""

from __future__ import annotations

import argparse
import json
import sys

from s2p.config import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Explain one match with the server's cascade and scoring.

    By default the candidates come from direct Stash queries (a few, for one
    file) rather than the scene index, which takes seconds to load on a big
    library; ``--index`` loads it first and matches exactly as the server does.
    """
    from s2p.app.services import build_core
    from s2p.common.deadline import Deadline
    from s2p.plex.hints import MatchHints
    from s2p.stash.errors import StashError

    try:
        hints = MatchHints.model_validate({
            "filename": args.filename, "title": args.title, "year": args.year, "guid": args.guid,
            "ohash": args.ohash, "manual": args.manual, "type": 1,
        })
    except Exception as exc:  # pydantic's ValidationError
        raise SystemExit(f"s2p match: invalid hints: {exc}") from None
    if not hints.has_anything:
        raise SystemExit("s2p match: give at least --filename, --title, --guid or --ohash")
    services = build_core(settings, with_index=args.index and settings.index.enabled)
    try:
        if services.index is not None:
            print("loading the scene index...", file=sys.stderr, flush=True)
            try:
                services.index.load()
            except StashError as exc:
                print(f"s2p match: the scene index could not be loaded: {exc}", file=sys.stderr)
                return 2
            stats = services.index.stats()
            print(f"  {stats['scenes']} scenes, {stats['files']} files in {stats['build_seconds']:.1f}s",
                  file=sys.stderr)
        outcome = services.matcher.match(hints, Deadline(settings.server.request_budget))
    finally:
        services.stop()
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome)
    return 0 if outcome.decision else 1


def print_outcome(outcome) -> None:
    print(f"source: {outcome.source}")
    print("steps:")
    for step, text in outcome.steps:
        print(f"  - {step}: {text}")
    if outcome.translated:
        print(f"translated path: {outcome.translated}")
    if outcome.candidates:
        print("candidates (best first):")
        for c in outcome.candidates:
            title = c.scene.title or "(no title)"
            print(f"  {c.score:3d}  scene {c.scene.id:>6}  {title}  [{c.step}] {c.reason}")
    else:
        print("candidates: none")
    if outcome.decision:
        print(f"decision: scene {outcome.decision.scene.id} (score {outcome.decision.score}, by {outcome.decision.step})")
    else:
        print(f"decision: no automatic match: {outcome.reason}")
