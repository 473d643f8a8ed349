"""Replay a Plex TV library scan against s2p's TV provider and a slow Stash.

    .venv/bin/python bench/tv.py                          # 2,000 scenes (40 studios), 32 clients, 50 ms Stash
    .venv/bin/python bench/tv.py --scenes 10000 --clients 64 --page-size 20

Three processes, as in ``bench/rescan.py``: a stand-in Stash (at most
--stash-concurrency requests at a time, each taking --latency seconds), s2p
(``python -m s2p serve``) and this one, which plays Plex's TV scanner.  First
the shows, one per studio folder: the show matched by title (type 2), its
metadata with ``includeChildren``, then its seasons, each season's episodes
and the show's grandchildren, page by page.  Then every file: matched as an
episode (type 4, with the show's title, the year as season and the air date),
the episode's metadata and its thumb.  It prints per-route latencies,
throughput, how many requests reached Stash, s2p's peak RSS, and checks the
answers: every file the right scene, every show listing each of its episodes
once, with ``totalSize`` right.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from launch import (add_stash_options, config, get_json, serve_s2p, start_stash, stash_operations,  # noqa: E402
                    stopped_after)
from rescan import PLEX_ROOT, STASH_ROOT, Client, Recorder, path_rules, pct, peak_rss_mb  # noqa: E402
from s2p.demo.library import generate  # noqa: E402


class Scan:
    """What the replay saw, checked at the end; shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.episodes_listed = 0
        self.episodes_matched = 0

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


def paged(client: Client, route: str, path: str, size: int, scan: Scan) -> list[dict]:
    items: list[dict] = []
    while True:
        status, body = client.call(route, "GET", f"{path}?X-Plex-Container-Start={len(items)}"
                                                 f"&X-Plex-Container-Size={size}")
        if status != 200:
            scan.problem(f"{path}: {status}")
            return items
        page = json.loads(body)["MediaContainer"]
        items += page.get("Metadata", [])
        if not page.get("Metadata") or len(items) >= page["totalSize"]:
            if len(items) != page["totalSize"]:
                scan.problem(f"{path}: {len(items)} items listed, totalSize {page['totalSize']}")
            return items


def scan_show(client: Client, name: str, scene_ids: set[str], page_size: int, scan: Scan) -> None:
    status, body = client.call("match show", "POST", "/tv/library/metadata/matches",
                               json.dumps({"type": 2, "title": name}).encode())
    shows = json.loads(body)["MediaContainer"].get("Metadata", []) if status == 200 else []
    if not shows:
        scan.problem(f"show {name!r} not matched")
        return
    key = shows[0]["ratingKey"]
    client.call("show", "GET", f"/tv/library/metadata/{key}?includeChildren=1")
    seasons = paged(client, "children", f"/tv/library/metadata/{key}/children", page_size, scan)
    by_season = [e["ratingKey"] for s in seasons
                 for e in paged(client, "children", f"/tv/library/metadata/{s['ratingKey']}/children", page_size, scan)]
    everything = [e["ratingKey"] for e in
                  paged(client, "grandchildren", f"/tv/library/metadata/{key}/grandchildren", page_size, scan)]
    expected = {f"episode-{i}" for i in scene_ids}
    if sorted(everything) != sorted(expected) or sorted(by_season) != sorted(expected):
        scan.problem(f"show {name!r}: {len(everything)} grandchildren, {len(by_season)} in its seasons, "
                     f"{len(expected)} scenes in Stash")
    with scan.lock:
        scan.episodes_listed += len(everything)


def scan_episode(client: Client, scene: dict, show: str, scan: Scan) -> None:
    hints = {"type": 4, "filename": PLEX_ROOT + scene["files"][0]["path"][len(STASH_ROOT):],
             "grandparentTitle": show}
    if scene.get("date"):
        hints.update(parentIndex=int(scene["date"][:4]), date=scene["date"])
    status, body = client.call("match episode", "POST", "/tv/library/metadata/matches", json.dumps(hints).encode())
    found = json.loads(body)["MediaContainer"].get("Metadata", []) if status == 200 else []
    if [e["ratingKey"] for e in found] != [f"episode-{scene['id']}"]:
        scan.problem(f"scene {scene['id']}: matched {[e['ratingKey'] for e in found]}")
        return
    with scan.lock:
        scan.episodes_matched += 1
    status, body = client.call("episode", "GET", f"/tv/library/metadata/{found[0]['ratingKey']}")
    if status != 200:
        return
    thumb = json.loads(body)["MediaContainer"]["Metadata"][0].get("thumb")
    if thumb:
        target = urlsplit(thumb)
        client.call("image", "GET", target.path + (f"?{target.query}" if target.query else ""))


def replay(url: str, args) -> tuple[Recorder, Scan, dict[str, float]]:
    library = generate(args.scenes, seed=args.seed)
    by_studio: dict[str, set[str]] = {}
    for scene in library.scenes.values():
        by_studio.setdefault(scene["studio"], set()).add(scene["id"])
    recorder, scan, local = Recorder(), Scan(), threading.local()

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(url, recorder)
        return local.client

    phases: dict[str, float] = {}
    with ThreadPoolExecutor(args.clients) as pool:
        started = time.monotonic()
        list(pool.map(lambda sid: scan_show(client(), library.studios[sid]["name"], by_studio[sid],
                                            args.page_size, scan), sorted(by_studio)))
        phases["shows"] = time.monotonic() - started
        started = time.monotonic()
        list(pool.map(lambda scene: scan_episode(client(), scene, library.studios[scene["studio"]]["name"], scan),
                      library.scenes.values()))
        phases["episodes"] = time.monotonic() - started
    return recorder, scan, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=2000, help="scenes in Stash (default 2000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent Plex connections (default 32)")
    parser.add_argument("--page-size", type=int, default=50, help="X-Plex-Container-Size of listings (default 50)")
    add_stash_options(parser)
    parser.add_argument("--cache-entries", type=int, default=None,
                        help="s2p's [cache] max_entries (default: s2p's own default)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stash, stash_url = start_stash("--scenes", str(args.scenes), "--latency", str(args.latency),
                                   "--concurrency", str(args.stash_concurrency), "--seed", str(args.seed))
    cache = f"[cache]\nmax_entries = {args.cache_entries}\n\n" if args.cache_entries is not None else ""
    with stopped_after(stash), tempfile.TemporaryDirectory(prefix="s2p-bench-") as tmp:
        workdir = Path(tmp)
        s2p, url = serve_s2p(workdir, "s2p", lambda port: config(
            port, stash_url, server=f"threads = {args.threads}\n",
            rest=f'[state]\ndir = "{workdir / "state"}"\n\n{cache}{path_rules()}'))
        with stopped_after(s2p):
            before = get_json(stash_url, "/_standin/counts")
            recorder, scan, phases = replay(url, args)
            after = get_json(stash_url, "/_standin/counts")
            rss = peak_rss_mb(s2p.pid)

    requests = sum(len(v) for v in recorder.latency.values())
    elapsed = sum(phases.values())
    entries = f", [cache] max_entries {args.cache_entries}" if args.cache_entries is not None else ""
    print(f"TV scan of {args.scenes} scenes{entries}, {args.clients} clients, pages of {args.page_size}, "
          f"Stash {args.latency * 1000:.0f} ms per request, {args.stash_concurrency} at once; {os.cpu_count()} CPUs")
    print(f"   {requests} requests in {elapsed:.1f} s ({requests / elapsed:.0f} requests/s): shows "
          f"{phases['shows']:.1f} s, episodes {phases['episodes']:.1f} s")
    print(f"   {'route':<14} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'not 200':>8} "
          f"{'s2p p50 ms':>11}")
    for route, values in sorted(recorder.latency.items()):
        bad = sum(n for status, n in recorder.statuses[route].items() if status != 200)
        own = pct(recorder.server.get(route, []), .5)
        print(f"   {route:<14} {len(values):>6} {pct(values, .5) * 1000:>8.1f} {pct(values, .95) * 1000:>8.1f} "
              f"{pct(values, .99) * 1000:>8.1f} {max(values) * 1000:>8.1f} {bad:>8} {own:>11.1f}")
    print("   (s2p p50: s2p's own time per request, from its Server-Timing header)")
    print(f"   Stash: {after.get('graphql', 0) - before.get('graphql', 0)} GraphQL queries, "
          f"{after.get('image', 0) - before.get('image', 0)} image fetches, "
          f"at most {after.get('peak_concurrency')} at once; s2p peak RSS {rss:.0f} MB")
    print("   Stash queries by operation: " + ", ".join(f"{k} {v}" for k, v in
                                                       sorted(stash_operations(before, after).items())))
    print(f"   {scan.episodes_matched} of {args.scenes} files matched to their scene; "
          f"{scan.episodes_listed} episodes listed as grandchildren")
    for text in scan.problems[:10]:
        print(f"   ! {text}")
    if scan.problems:
        raise SystemExit(f"{len(scan.problems)} wrong answers")


if __name__ == "__main__":
    main()
