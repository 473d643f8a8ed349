"""``s2p tv-layout``: where each scene's file would be in a TV library laid out
for Plex's TV scanner (docs/tv.md), and, on request, a folder of links to
them or a rename plan.  Stash's files are never touched: the links point at
them, and the plan is a script for a person to read and run."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s2p.config import Settings

EXIT_PROBLEMS = 1
EXIT_FAILED = 3


def add_parser(commands: Any) -> None:
    layout = commands.add_parser(
        "tv-layout", help="print where each scene's file goes in a TV library Plex's TV scanner takes",
        description="Print, for a studio or the whole library, the path each scene's file would have in a TV "
                    "Shows library laid out for Plex's TV scanner: Show/Season YYYY/Show - SYYYYEmmddnn - "
                    "Title.ext, undated scenes in Season 00 as S00E<scene id>. Stash's files are never "
                    "touched: --links makes a folder of symbolic links to them, --plan writes a rename "
                    "script to read and run yourself.")
    layout.add_argument("--studio", action="append", metavar="NAME_OR_ID",
                        help="only this studio's show (repeatable; a name or an id); default: every show")
    layout.add_argument("--root", metavar="DIR", help="print paths under this folder (with --plan: the folder "
                        "the files are moved into, as Stash sees it)")
    layout.add_argument("--json", action="store_true", help="print the layout as JSON")
    out = layout.add_mutually_exclusive_group()
    out.add_argument("--links", metavar="DIR", help="make the layout in DIR as symbolic links to the files")
    out.add_argument("--plan", metavar="FILE", help="write a shell script that moves the files into the layout "
                     "under --root (not run: read it, then run it and rescan in Stash)")
    layout.add_argument("--stash-paths", action="store_true",
                        help="with --links: link to the files as Stash names them, not as the path rules "
                             "translate them for Plex")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from s2p.app.runtime import build_core
    from s2p.common.deadline import Deadline
    from s2p.stash.errors import StashError
    from s2p.tv.catalog import Catalog
    from s2p.tv.layout import Placement, placements
    from s2p.tv.service import fold_title

    if args.plan and not args.root:
        print("s2p tv-layout: --plan needs --root, the folder the files are moved into (as Stash sees it)",
              file=sys.stderr)
        return 2
    core = build_core(settings, with_index=False)
    try:
        catalog = Catalog(core.stash, settings.tv, settings.cache, partial_dates=settings.provider.partial_dates)
        budget = max(settings.server.request_budget, settings.stash.timeout * 4)
        try:
            shows = catalog.shows(Deadline(budget))
            wanted = _select(shows, args.studio or [], fold_title)
            if isinstance(wanted, str):
                print(f"s2p tv-layout: {wanted}", file=sys.stderr)
                return 2
            placed: list[Placement] = []
            taken: set[str] = set()
            for show in wanted:
                placed += placements(show.title, catalog.listing(show, Deadline(budget)), taken)
        except StashError as exc:
            print(f"s2p tv-layout: Stash could not be read: {exc}", file=sys.stderr)
            return EXIT_FAILED

        def target(source: str) -> str:
            if args.stash_paths:
                return source
            translated = core.path_map.to_plex(source)
            return translated.path if translated is not None else source

        root = args.root.rstrip("/") + "/" if args.root else ""
        if args.json:
            print(json.dumps([{"scene": p.scene_id, "show": p.show, "season": p.season, "episode": p.episode,
                               "source": p.source, "path": root + p.path} for p in placed],
                             indent=2, ensure_ascii=False))
        else:
            for p in placed:
                print(f"{p.source}\t{root}{p.path}")
        print(f"{len(placed)} file(s) of {len({p.scene_id for p in placed})} scene(s) in {len(wanted)} show(s)",
              file=sys.stderr)
        if args.links:
            return _links(Path(args.links), placed, target)
        if args.plan:
            return _plan(Path(args.plan), placed, root)
        return 0
    finally:
        core.stop()


def _select(shows: list[Any], wanted: list[str], fold: Callable[[str], str]) -> list[Any] | str:
    if not wanted:
        return shows
    chosen = []
    for name in wanted:
        found = [s for s in shows if s.id == name or fold(s.title) == fold(name)]
        if not found:
            return f"no show for the studio {name!r} (a studio's name or id; with [tv] show = \"top_parent\", " \
                   "a top parent studio's)"
        chosen += [s for s in found if s not in chosen]
    return chosen


def _links(folder: Path, placed: list[Any], target: Callable[[str], str]) -> int:
    """Symbolic links in ``folder``; an existing link to the same file is kept,
    anything else already there is left alone and reported."""
    made = kept = 0
    problems = []
    for p in placed:
        link = folder / p.path
        points_to = target(p.source)
        if link.is_symlink() and os.readlink(link) == points_to:
            kept += 1
            continue
        if link.exists() or link.is_symlink():
            problems.append(f"{link}: something else is there already; left alone")
            continue
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(points_to)
            made += 1
        except OSError as exc:
            problems.append(f"{link}: {exc.strerror or exc}")
    for problem in problems[:20]:
        print(f"  ! {problem}", file=sys.stderr)
    print(f"links in {folder}: {made} made, {kept} already there, {len(problems)} not made", file=sys.stderr)
    return EXIT_PROBLEMS if problems else 0


def _plan(path: Path, placed: list[Any], root: str) -> int:
    lines = ["#!/bin/sh",
             "# Written by s2p tv-layout: moves each scene's file into a TV layout Plex's TV scanner takes.",
             "# Read it first. Run it where the paths are Stash's, then rescan the folders in Stash:",
             "# Stash finds moved files by their fingerprints and keeps their scenes.",
             "set -e"]
    folders = sorted({str(Path(root + p.path).parent) for p in placed})
    lines += [f"mkdir -p -- {shlex.quote(f)}" for f in folders]
    lines += [f"mv -n -- {shlex.quote(p.source)} {shlex.quote(root + p.path)}" for p in placed
              if p.source != root + p.path]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"s2p tv-layout: cannot write the plan to {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"rename plan for {len(placed)} file(s) written to {path} (not run)", file=sys.stderr)
    return 0
