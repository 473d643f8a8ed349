"""Stash slow or down: does every Plex request still answer in time, and how
soon does s2p recover once Stash is back?

    .venv/bin/python bench/outage.py                  # 300 scenes, 16 clients, Stash 2 s per request, then down

Three phases against s2p (``python -m s2p serve``, its scene index loaded):
  slow:     Stash answers every request in --slow seconds (at most 4 at once);
            Plex asks for match, metadata and poster of fresh scenes.
  down:     Stash's process is killed; the same requests again.
  recovery: Stash starts again on the same port; how long until metadata of a
            scene s2p has not cached answers 200 again (at most one circuit-
            breaker cool-down is expected).
Prints, per phase, the slowest answer and the answers by status, next to
s2p's request budget.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from launch import config, free_port, serve_s2p  # noqa: E402
from rescan import Client, Recorder, path_rules, plex_filenames  # noqa: E402


def start_stash(args, port: int, latency: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "stash_server.py"), "--scenes", str(args.scenes), "--latency", str(latency),
         "--concurrency", "4", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    if not process.stdout.readline().startswith("http"):
        raise SystemExit("the stand-in Stash did not start")
    return process


def start_s2p(stash_url: str, workdir: Path, args) -> tuple[subprocess.Popen, str]:
    return serve_s2p(workdir, "s2p", lambda port: config(
        port, stash_url, server=f"request_budget = {args.budget}\n",
        stash=f"breaker_cooldown = {args.cooldown}\n", rest=f"""
[state]
dir = "{workdir / 'state'}"

{path_rules()}"""))


def replay(url: str, names: list[str], clients: int) -> Recorder:
    recorder = Recorder()

    def one(item: tuple[int, str]) -> None:
        index, name = item
        client = Client(url, recorder)
        status, body = client.call("match", "POST", "/library/metadata/matches",
                                   json.dumps({"type": 1, "filename": name}).encode())
        key = str(index + 1)
        if status == 200:
            found = json.loads(body)["MediaContainer"]["Metadata"]
            key = found[0]["ratingKey"] if found else key
        status, body = client.call("metadata", "GET", f"/library/metadata/{key}")
        if status == 200:
            thumb = urlsplit(json.loads(body)["MediaContainer"]["Metadata"][0]["thumb"])
            client.call("image", "GET", thumb.path)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, enumerate(names)))
    return recorder


def show(phase: str, recorder: Recorder, budget: float) -> None:
    worst = max(max(v) for v in recorder.latency.values())
    statuses = ", ".join(f"{route} {dict(sorted(s.items()))}" for route, s in sorted(recorder.statuses.items()))
    print(f"{phase:<9} slowest answer {worst:6.2f} s (budget {budget:.0f} s); answers by status: {statuses}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--items", type=int, default=100, help="files asked about in each phase (default 100)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--slow", type=float, default=2.0, help="seconds per Stash request while slow (default 2)")
    parser.add_argument("--budget", type=float, default=30.0, help="s2p's [server] request_budget (default 30)")
    parser.add_argument("--cooldown", type=float, default=30.0, help="s2p's [stash] breaker_cooldown (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.items = min(args.items * 3, args.scenes)
    names = plex_filenames(argparse.Namespace(scenes=args.scenes, items=args.items, seed=args.seed))
    third = len(names) // 3
    port = free_port()
    print(f"{args.scenes} scenes; {third} fresh items per phase from {args.clients} clients; "
          f"Stash {args.slow:.1f} s per request when slow; breaker cool-down {args.cooldown:.0f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="s2p-outage-") as tmp:
        stash = start_stash(args, port, latency=0.0)
        s2p, url = start_s2p(f"http://127.0.0.1:{port}", Path(tmp), args)
        try:
            stash.terminate()
            stash.wait(10)
            stash = start_stash(args, port, latency=args.slow)
            show("slow", replay(url, names[:third], args.clients), args.budget)
            stash.terminate()
            stash.wait(10)
            show("down", replay(url, names[third:2 * third], args.clients), args.budget)
            stash = start_stash(args, port, latency=0.0)
            back = time.monotonic()
            probe = 2 * third
            while True:
                recorder = Recorder()
                status, _ = Client(url, recorder).call("metadata", "GET", f"/library/metadata/{probe + 1}")
                if status != 503:  # Stash answered (the scene, or that it has none)
                    break
                # Next time a scene s2p has not cached, so that only Stash can answer.
                probe = 2 * third + (probe + 1 - 2 * third) % max(1, args.scenes - 2 * third)
                time.sleep(0.2)
            print(f"recovery  metadata answered again {time.monotonic() - back:.1f} s after Stash came back "
                  f"(breaker cool-down {args.cooldown:.0f} s)")
        finally:
            s2p.terminate()
            s2p.wait(20)
            stash.terminate()
            stash.wait(10)


if __name__ == "__main__":
    main()
