"""One LAN device keeps s2p's threads waiting for Stash: are Plex's matches still quick?

    .venv/bin/python bench/stash_bound_flood.py                  # 32 title searches at a time, 15 s
    .venv/bin/python bench/stash_bound_flood.py --against /tmp/old   # the same against another checkout

s2p (``python -m s2p serve``, defaults: 16 threads, 4 Stash slots) against a
stand-in Stash that takes --latency seconds per query.  From 127.0.0.2,
--searches connections each send title searches (matches with a title and
no filename: they wait for a Stash slot, then for Stash) one after another;
from 127.0.0.1 Plex asks for a match the scene index answers (a file
name) every 0.1 s.  Prints Plex's match latencies (median, p95, slowest,
how many over 1 s) and how many searches were answered.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from launch import REPO, config, serve_s2p, start_stash, stopped_after  # noqa: E402
from rescan import path_rules  # noqa: E402
from warm import match_body  # noqa: E402


def post(host: str, port: int, source: str, body: dict) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=60, source_address=(source, 0))
    try:
        conn.request("POST", "/library/metadata/matches", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def measure(repo: Path, args) -> None:
    stash, stash_url = start_stash("--scenes", "2000", "--latency", str(args.latency))
    with stopped_after(stash), tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        s2p, url = serve_s2p(workdir, "s2p", lambda port: config(port, stash_url, rest=f"""
[state]
dir = "{workdir / 'state'}"

{path_rules()}"""), repo=repo)
        with stopped_after(s2p):
            host, port = url.rsplit("//", 1)[1].split(":")
            plex_body = match_body()
            post(host, int(port), "127.0.0.1", plex_body)  # Plex's file is known to the index
            stop = time.monotonic() + args.seconds
            searched = [0]

            def searches(n: int) -> None:
                i = 0
                while time.monotonic() < stop:
                    post(host, int(port), "127.0.0.2", {"type": 1, "title": f"Nothing like this {n} {i}"})
                    searched[0] += 1
                    i += 1

            flood = [threading.Thread(target=searches, args=(n,)) for n in range(args.searches)]
            for thread in flood:
                thread.start()
            time.sleep(1.0)  # the searches hold their threads
            times = []
            while time.monotonic() < stop:
                started = time.monotonic()
                status = post(host, int(port), "127.0.0.1", plex_body)
                times.append(time.monotonic() - started if status == 200 else float("inf"))
                time.sleep(0.1)
            for thread in flood:
                thread.join(120)
            ordered = sorted(times)
            print(f"{repo.name}: {args.searches} title searches at a time from one address "
                  f"({searched[0]} answered), Stash {args.latency:.1f} s per query; Plex's matches: {len(times)}, "
                  f"median {statistics.median(times) * 1000:.0f} ms, p95 "
                  f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms, slowest {ordered[-1] * 1000:.0f} ms, "
                  f"{sum(t > 1.0 for t in times)} over 1 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per Stash query (default 0.5)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--against", metavar="CHECKOUT", help="also run this checkout's s2p, after this one")
    args = parser.parse_args()
    measure(REPO, args)
    if args.against:
        measure(Path(args.against).resolve(), args)


if __name__ == "__main__":
    main()
