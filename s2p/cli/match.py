"""``s2p match``: how one file would be matched, and why."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from s2p.config import Settings

if TYPE_CHECKING:
    from s2p.match.cascade import MatchOutcome


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

    tv = getattr(args, "tv", False)
    values = {"filename": args.filename, "title": args.title, "year": args.year, "guid": args.guid,
              "ohash": args.ohash, "manual": args.manual, "type": 1}
    if tv:
        kind = getattr(args, "type", None) or ("episode" if args.filename or args.ohash else "show")
        values.update(type=kind, grandparentTitle=args.show if kind == "episode" else None,
                      parentTitle=args.show if kind == "season" else None, date=args.date,
                      parentIndex=args.season if kind == "episode" else None,
                      index=args.season if kind == "season" else args.episode)
        if kind == "show" and args.show and not args.title:
            values["title"] = args.show
    try:
        hints = MatchHints.model_validate(values)
    except Exception as exc:  # pydantic's ValidationError
        raise SystemExit(f"s2p match: invalid hints: {exc}") from None
    if not hints.has_anything and not (tv and hints.show_title):
        raise SystemExit("s2p match: give at least --filename, --title, --guid or --ohash"
                         + (" (or --show)" if tv else ""))
    if tv and not settings.tv.enabled:
        raise SystemExit("s2p match: the TV provider is off ([tv] enabled = false)")
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
        if tv:
            from s2p.app.services import build_tv
            from s2p.match.cached import CachedMatcher

            service = build_tv(settings, services, CachedMatcher(services.matcher, enabled=False))
            found = service.match(hints, Deadline(settings.server.request_budget))
            if args.json:
                print(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
            else:
                print_tv_outcome(found)
            return 0 if found.decision else 1
        outcome = services.matcher.match(hints, Deadline(settings.server.request_budget))
    finally:
        services.stop()
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome)
    return 0 if outcome.decision else 1


def print_outcome(outcome: MatchOutcome) -> None:
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
        decision = outcome.decision
        print(f"decision: scene {decision.scene.id} (score {decision.score}, by {decision.step})")
    else:
        print(f"decision: no automatic match: {outcome.reason}")


def print_tv_outcome(outcome: Any) -> None:  # tv.service.TvOutcome: cli reaches tv only through app
    if outcome.cascade is not None:
        print("the file, through the movie provider's cascade:")
        print_outcome(outcome.cascade)
        print()
    print("TV steps:")
    for step in outcome.steps:
        print(f"  - {step}")
    if outcome.candidates:
        print("candidates (best first):")
        for c in outcome.candidates:
            print(f"  {c.score:3d}  {c.describe()}  [{c.step}]")
    else:
        print("candidates: none")
    if outcome.decision:
        d = outcome.decision
        where = (f" as season {d.episode.season}, episode {d.episode.index}, aired {d.episode.released or '-'}"
                 if d.episode is not None else "")
        print(f"decision: {d.describe()}{where} (score {d.score}, by {d.step})")
    else:
        print(f"decision: no automatic match: {outcome.reason}")
