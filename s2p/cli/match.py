"""``s2p match``: how one file would be matched, and why."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
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
    from s2p.app.runtime import build_core, build_tv
    from s2p.common.deadline import Deadline
    from s2p.match.query import MatchQuery, OwnGuid
    from s2p.match.service import MatchService, MovieMatches
    from s2p.plex import contract
    from s2p.plex.translate import TranslateOptions
    from s2p.stash.errors import StashError

    tv = bool(getattr(args, "tv", False))
    identifier = settings.tv_identifier if tv else settings.provider.identifier
    own = contract.own_guid(identifier, args.guid)
    if args.ohash and not re.fullmatch(r"[0-9a-fA-F]{1,16}", args.ohash):
        raise SystemExit("s2p match: invalid hints: --ohash is 16 hexadecimal digits at most")
    query = MatchQuery(kind=contract.MOVIE, filename=args.filename or None, title=args.title or None,
                       year=args.year or None, guid=args.guid or None, own=OwnGuid(*own) if own else None,
                       ohash=args.ohash.lower().rjust(16, "0") if args.ohash else None, manual=bool(args.manual))
    if tv:
        kind = getattr(args, "type", None) or ("episode" if args.filename or args.ohash else "show")
        if args.date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
            raise SystemExit("s2p match: invalid hints: --date is YYYY-MM-DD")
        query = replace(query, kind={"show": contract.SHOW, "season": contract.SEASON, "episode": contract.EPISODE}[kind], date=args.date or None,
                        show_title=args.show or (args.title if kind == "show" else None),
                        title=args.title or (args.show if kind == "show" else None),
                        parent_index=args.season if kind == "episode" else None,
                        index=args.season if kind == "season" else args.episode)
    if not query.has_anything and not (tv and query.show_title):
        raise SystemExit("s2p match: give at least --filename, --title, --guid or --ohash"
                         + (" (or --show)" if tv else ""))
    if tv and not settings.tv.enabled:
        raise SystemExit("s2p match: the TV provider is off ([tv] enabled = false)")
    core = build_core(settings, with_index=args.index and settings.index.enabled)
    deadline = Deadline(settings.server.request_budget)
    try:
        if core.index is not None:
            print("loading the scene index...", file=sys.stderr, flush=True)
            try:
                core.index.load()
            except StashError as exc:
                print(f"s2p match: the scene index could not be loaded: {exc}", file=sys.stderr)
                return 2
            stats = core.index.stats()
            print(f"  {stats['scenes']} scenes, {stats['files']} files in {stats['build_seconds']:.1f}s",
                  file=sys.stderr)
        if tv:
            found = MatchService(build_tv(settings, core), enabled=False).explain(query, deadline)
            if args.json:
                print(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
            else:
                print_tv_outcome(found)
            return 0 if found.decision else 1
        options = TranslateOptions.from_settings(settings.provider)
        outcome = MatchService(MovieMatches(core.matcher, options), enabled=False).explain(query, deadline)
    finally:
        core.stop()
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
