"""A studio with thousands of scenes in one year, as Plex's TV refresh reads it.

    python bench/tv_season.py                         # 3,000 scenes in 2024, 50 ms Stash
    python bench/tv_season.py --season 5000 --latency 0.02

A stand-in Stash (in this process, at most --stash-concurrency requests at a
time, each taking --latency seconds) holds a generated library plus one
studio with --season scenes in one year; s2p runs as ``python -m s2p serve``
with --cache-entries scenes kept.  Plex's refresh of that season is played
cold, then warm: the season with ``includeChildren=1`` (every episode, full),
then the show's grandchildren in pages of --page-size (s2p caps a page at 500
episodes), each from a cold cache again.  It prints each answer's time, its
size, and the Stash queries it cost, and checks that every episode came once,
with its summary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from launch import API_KEY, config, serve_s2p, stash_operations, stopped_after  # noqa: E402
from rescan import STASH_ROOT, path_rules, peak_rss_mb  # noqa: E402
from s2p.demo import start_standin  # noqa: E402
from s2p.demo.library import Library, generate  # noqa: E402

STUDIO = "9001"


def library(args) -> Library:
    lib = generate(args.scenes, seed=args.seed)
    lib.add_studio(STUDIO, "Busy Studio", details="Thousands of scenes a year.")
    for n in range(args.season):
        sid = str(100000 + n)
        lib.add_scene(sid, title=f"Busy scene {n}", date=f"2024-{1 + n % 12:02d}-{1 + n // 12 % 28:02d}",
                      studio=STUDIO, details=f"The story of scene {sid}.", performers=["1", "2"],
                      files=[f"{STASH_ROOT}/Busy Studio/{sid}.mp4"])
    return lib


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[float, dict, int]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.monotonic()
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, json.loads(body)["MediaContainer"], len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--season", type=int, default=3000, help="scenes of the busy studio in 2024 (default 3000)")
    parser.add_argument("--scenes", type=int, default=2000, help="other scenes in Stash (default 2000)")
    parser.add_argument("--page-size", type=int, default=1000, help="X-Plex-Container-Size asked (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Stash request (default 0.05)")
    parser.add_argument("--stash-concurrency", type=int, default=4, help="Stash requests at once (default 4)")
    parser.add_argument("--cache-entries", type=int, default=20000, help="s2p's [cache] max_entries (default 20000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lib = library(args)
    stash, standin = start_standin(lib, api_key=API_KEY, latency=args.latency,
                                   max_concurrency=args.stash_concurrency, threads=16)
    problems: list[str] = []
    rows: list[tuple[str, float, int, int, dict[str, int]]] = []
    with tempfile.TemporaryDirectory(prefix="s2p-bench-") as tmp:
        workdir = Path(tmp)
        s2p, url = serve_s2p(workdir, "s2p", lambda port: config(
            port, stash.url, rest=f'[state]\ndir = "{workdir / "state"}"\n\n[cache]\nmax_entries = '
                                  f'{args.cache_entries}\n\n[index]\nenabled = false\n\n{path_rules()}'),
            index=False)
        with stopped_after(s2p):
            def measured(label: str, path: str, headers: dict[str, str] | None = None) -> dict:
                before = dict(standin.counts)
                elapsed, body, size = get(url, path, headers)
                after = dict(standin.counts)
                rows.append((label, elapsed, size, after.get("graphql", 0) - before.get("graphql", 0),
                             stash_operations(before, after)))
                return body

            season = f"/tv/library/metadata/season-{STUDIO}-2024?includeChildren=1"
            for phase in ("cold", "warm"):
                body = measured(f"season, includeChildren ({phase})", season)
                children = body["Metadata"][0]["Children"]["Metadata"]
                ids = [c["ratingKey"] for c in children]
                if len(ids) != args.season or len(set(ids)) != len(ids):
                    problems.append(f"{phase}: {len(ids)} episodes embedded, {len(set(ids))} distinct")
                if any(not c.get("summary", "").startswith("The story of scene") for c in children):
                    problems.append(f"{phase}: an embedded episode without its summary")
        # The pages from a cold scene cache: a fresh s2p.
        listed: list[str] = []
        s2p, url = serve_s2p(workdir, "s2p-pages", lambda port: config(
            port, stash.url, rest=f'[state]\ndir = "{workdir / "state2"}"\n\n[cache]\nmax_entries = '
                                  f'{args.cache_entries}\n\n[index]\nenabled = false\n\n{path_rules()}'),
            index=False)
        with stopped_after(s2p):
            total = None
            while total is None or len(listed) < total:
                body = measured(f"grandchildren from {len(listed)} (cold)",
                                f"/tv/library/metadata/show-{STUDIO}/grandchildren",
                                {"X-Plex-Container-Start": str(len(listed)),
                                 "X-Plex-Container-Size": str(args.page_size)})
                total = body["totalSize"]
                if not body.get("Metadata"):
                    problems.append(f"an empty page at {len(listed)} of {total}")
                    break
                listed += [e["ratingKey"] for e in body["Metadata"]]
            if sorted(listed) != sorted(f"episode-{100000 + n}" for n in range(args.season)):
                problems.append(f"grandchildren: {len(listed)} listed, {len(set(listed))} distinct")
            rss = peak_rss_mb(s2p.pid)
    stash.stop()
    print(f"a season of {args.season} scenes (and {args.scenes} other scenes), Stash {args.latency * 1000:.0f} ms "
          f"per request, {args.stash_concurrency} at once; {os.cpu_count()} CPUs")
    print(f"   {'request':<38} {'seconds':>8} {'MB':>7} {'Stash queries':>14}  by operation")
    for label, elapsed, size, queries, operations in rows:
        print(f"   {label:<38} {elapsed:>8.2f} {size / 1e6:>7.1f} {queries:>14}  "
              + ", ".join(f"{k} {v}" for k, v in sorted(operations.items())))
    print(f"   ({math.ceil(args.season / 100)} batched reads of 100 scenes hold the season; "
          f"s2p peak RSS {rss:.0f} MB in the paging run)")
    for text in problems:
        print(f"   ! {text}")
    if problems:
        raise SystemExit(f"{len(problems)} wrong answers")


if __name__ == "__main__":
    main()
