"""Scene index figures: build time and memory for 10k / 50k / 100k scenes,
and matches per second against the index.

    .venv/bin/python bench/index.py                      # 10000 50000 100000
    .venv/bin/python bench/index.py --sizes 10000 --matches 5000

Each size runs in fresh child processes, so one size's memory never
inflates another's:

- over HTTP: the library comes from ``s2p.demo.library.generate(N)``, served
  on loopback by the stand-in Stash (answers pruned to the fields of the
  summary document, as Stash would send them); the child loads the index
  with s2p's own client, as the server does at start-up, and reports the
  load time and its resident memory (RSS) once loaded, and its peak;
- directly: the child builds the index from the same scenes' answers,
  parsed page by page as s2p parses Stash's, and reports the memory the index keeps
  (tracemalloc: allocations still alive after the load), per 10,000 scenes,
  then times matches by library-relative path (as Plex sends them) through
  the server's own Matcher: random files, files with a unique name, and
  files whose name many scenes share.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

STASH_ROOT = "/stash/library"
SUMMARY_FIELDS = ("id", "title", "date", "updated_at")
FILE_FIELDS = ("path", "basename", "size", "fingerprints")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts at its
    # parent's (here the process holding the generated library).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class NoStash:
    def __getattr__(self, name):
        raise AssertionError(f"a match asked Stash ({name})")


# ---------------------------------------------------------------- children

def child_http(url: str) -> dict:
    from s2p.config import Settings
    from s2p.scenes.index import SceneIndex
    from s2p.paths.pathmap import PathMap
    from s2p.stash.api import StashAPI
    from s2p.stash.client import StashClient

    settings = Settings.model_validate({"stash": {"url": url, "timeout": 60}})
    index = SceneIndex(StashAPI(StashClient(settings.stash)), PathMap(), settings.index)
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    index.load()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stats = index.stats()
    return {"scenes": stats["scenes"], "files": stats["files"], "http_load_s": seconds, "http_cpu_s": cpu,
            "rss_before_mb": before, "rss_loaded_mb": rss_mb(), "rss_peak_mb": peak_rss_mb()}


def child_direct(count: int, matches: int, page_size: int) -> dict:
    import gc
    import tracemalloc

    from s2p.config import IndexSettings, MatchSettings
    from s2p.common.deadline import Deadline
    from s2p.demo.library import generate
    from s2p.scenes.index import FILES, SceneIndex, file_path
    from s2p.match.sources import IndexSource
    from s2p.match.cascade import Matcher
    from s2p.paths.pathmap import PathMap
    from s2p.match.query import MatchQuery
    from s2p.stash.models import SceneSummary

    library = generate(count, root=STASH_ROOT)
    raws = [_prune(library.find_scene(i)) for i in library._ordered_ids()]
    del library
    # The answers waiting to be handed over are not s2p's: keep the
    # collector from walking them while it times s2p's work.
    gc.collect()
    gc.freeze()

    def pages():
        for start in range(0, len(raws), page_size):
            yield [SceneSummary.model_validate(raw) for raw in raws[start:start + page_size]]

    # Build time: parsing the summaries and filling the index (no HTTP).
    index = SceneIndex(None, PathMap(), IndexSettings())
    started = time.perf_counter()
    index.load(pages())
    build = time.perf_counter() - started
    del index
    gc.collect()

    # Memory the index keeps: allocations made during a load and still alive after it.
    tracemalloc.start()
    index = SceneIndex(None, PathMap(), IndexSettings())
    index.load(pages())
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    matcher = Matcher(IndexSource(index, NoStash(), miss_ttl=0), PathMap(), MatchSettings())
    snap = index.snapshot()
    files = [file_path(f)[len(STASH_ROOT) + 1:] for s in snap.scenes.values() for f in s[FILES]]
    sharing = {path: len(snap.named(path.rsplit("/", 1)[-1])) for path in files}
    rng = random.Random(1)

    def timed(paths: list[str]) -> tuple[float, int]:
        hints = [MatchQuery(kind=1, filename=p) for p in paths]
        decided = 0
        started = time.perf_counter()
        for hint in hints:
            decided += matcher.match(hint, Deadline(10)).decision is not None
        return time.perf_counter() - started, decided

    every, decided = timed([rng.choice(files) for _ in range(matches)])
    unique = [p for p in files if sharing[p] == 1]
    crowded = [p for p in files if sharing[p] == max(sharing.values())]
    unique_s, _ = timed([rng.choice(unique) for _ in range(min(matches, 5000))])
    crowded_s, _ = timed([rng.choice(crowded) for _ in range(min(matches, 500))])
    return {"build_s": build, "index_mb": kept / 2**20, "build_peak_mb": peak / 2**20,
            "matches": matches, "decided": decided, "matches_per_s": matches / every,
            "unique_ms": 1000 * unique_s / min(matches, 5000), "crowded_ms": 1000 * crowded_s / min(matches, 500),
            "crowded_scenes": max(sharing.values())}


def _prune(raw: dict) -> dict:
    """A full scene as the summary document would carry it."""
    pruned = {k: raw.get(k) for k in SUMMARY_FIELDS}
    pruned["files"] = [{k: f.get(k) for k in FILE_FIELDS} for f in raw["files"]]
    return pruned


class SummaryExecutor:
    """The stand-in's executor, answering only the fields s2p asked for."""

    def __init__(self, library):
        from s2p.demo.standin import NamedOperationExecutor

        self._inner = NamedOperationExecutor(library)

    def __call__(self, document, variables, operation_name):
        result = self._inner(document, variables, operation_name)
        scenes = ((result.get("data") or {}).get("findScenes") or {}).get("scenes")
        if operation_name == "S2PSceneSummaries" and scenes is not None:
            result["data"]["findScenes"] = {"scenes": [_prune(s) for s in scenes]}
        return result


# ---------------------------------------------------------------- parent

def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench child {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(count: int, matches: int, page_size: int) -> dict:
    from s2p.demo import start_standin
    from s2p.demo.library import generate

    library = generate(count, root=STASH_ROOT)
    server, _ = start_standin(library, executor=SummaryExecutor(library))
    try:
        http = run_child("--child-http", server.url)
    finally:
        server.stop()
    del library
    direct = run_child("--child-direct", str(count), str(matches), str(page_size))
    return {"count": count, **http, **direct}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--matches", type=int, default=20_000, help="matches timed per size")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--child-http", help=argparse.SUPPRESS)
    parser.add_argument("--child-direct", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_http:
        print(json.dumps(child_http(args.child_http)))
        return 0
    if args.child_direct:
        count, matches, page_size = map(int, args.child_direct)
        print(json.dumps(child_direct(count, matches, page_size)))
        return 0

    logging.basicConfig(level=logging.ERROR)  # waitress's notices would break up the table
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; pages of {args.page_size}")
    header = (f"{'scenes':>8} {'files':>8} {'HTTP load s (CPU)':>17} {'build s':>8} {'index MB':>9} "
              f"{'MB/10k':>7} {'RSS base MB':>11} {'RSS loaded':>10} {'RSS peak':>9} {'matches/s':>10} "
              f"{'ms unique':>9} {'ms shared (by)':>15}")
    print(header)
    for count in args.sizes:
        r = measure(count, args.matches, args.page_size)
        print(f"{r['count']:>8} {r['files']:>8} {r['http_load_s']:>9.2f} ({r['http_cpu_s']:>5.2f}) "
              f"{r['build_s']:>8.2f} "
              f"{r['index_mb']:>9.1f} {r['index_mb'] / r['count'] * 10_000:>7.2f} {r['rss_before_mb']:>11.1f} "
              f"{r['rss_loaded_mb']:>10.1f} {r['rss_peak_mb']:>9.1f} {r['matches_per_s']:>10.0f} "
              f"{r['unique_ms']:>9.3f} {r['crowded_ms']:>9.2f} ({r['crowded_scenes']:>3})", flush=True)
        assert r["decided"] > 0.9 * r["matches"], r
    print("HTTP load: s2p's client over loopback from the stand-in Stash, which runs on the same CPUs (in brackets: "
          "the CPU seconds s2p itself used); build: the "
          "same pages parsed and indexed in-process; index MB: memory the index keeps (tracemalloc); RSS: the "
          "loading process, s2p's imports included.  matches/s: random files by library-relative path, one "
          "thread; ms unique: a file whose name no other scene has; ms shared: a name that many scenes share "
          "(how many in brackets; generate() gives 5% of scenes one of 20 names).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
