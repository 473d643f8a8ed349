"""Throughput of s2p's image route, with a cold and a warm cache.

    .venv/bin/python bench/images.py                           # 400 posters, 16 clients, 10 ms Stash
    .venv/bin/python bench/images.py --images 1000 --clients 32 --stash-latency 0.02
    .venv/bin/python bench/images.py --poster letterbox        # shaped posters (needs Pillow)

Three processes: a stand-in Stash serving generated PNG screenshots (at most
--stash-concurrency at a time, each taking --stash-latency seconds), s2p
(``python -m s2p serve``), and this one, which plays Plex's image fetcher
from --clients keep-alive connections.  It first reads the metadata of
--images scenes to get their signed poster URLs, then fetches every poster
once (cold: each one comes from Stash), then all of them --rounds more times
(warm: from s2p's memory), then revalidates them (If-None-Match, answered
from the URL alone).  It prints requests per second, latency percentiles and
how many image requests reached Stash in each phase.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import statistics
import subprocess
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

from launch import API_KEY, config, serve_s2p  # noqa: E402


# ------------------------------------------------------------------ the stand-in Stash, in a child process


def stash_process(conn, scenes: int, latency: float, concurrency: int) -> None:
    from s2p.demo import start_standin
    from s2p.demo.library import generate

    import logging

    logging.getLogger("waitress").setLevel(logging.ERROR)
    library = generate(scenes, seed=7)
    # Draw every screenshot up front: Stash's cost is then --stash-latency alone.
    drawn = {("scene", str(i)): library.image("scene", str(i)) for i in range(1, scenes + 1)}
    draw = library.image
    library.image = lambda kind, entity_id: drawn.get((kind, entity_id)) or draw(kind, entity_id)
    server, standin = start_standin(library, api_key=API_KEY, latency=latency, max_concurrency=concurrency,
                                    threads=32)
    conn.send(server.url)
    while True:
        command = conn.recv()
        if command == "counts":
            conn.send(dict(standin.counts))
        else:
            server.stop()
            conn.send("stopped")
            return


class Stash:
    def __init__(self, scenes: int, latency: float, concurrency: int):
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=stash_process, args=(child, scenes, latency, concurrency),
                                                daemon=True)
        self._process.start()
        self.url = self._conn.recv()

    def image_requests(self) -> int:
        self._conn.send("counts")
        return self._conn.recv().get("image", 0)

    def stop(self) -> None:
        self._conn.send("stop")
        self._conn.recv()
        self._process.join(10)


# ------------------------------------------------------------------ s2p


def start_s2p(stash_url: str, workdir: Path, args) -> tuple[subprocess.Popen, str]:
    return serve_s2p(workdir, "s2p", lambda port: config(
        port, stash_url, server=f"threads = {args.threads}\n",
        stash=f"max_concurrency = {args.stash_concurrency}\n", rest=f"""
[cache]
image_max_bytes = {512 * 1024 * 1024}

[artwork]
poster = "{args.poster}"

[state]
dir = "{workdir / 'state'}"

[log]
level = "WARNING"
"""), index=False)


class Client:
    """One keep-alive connection."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
        self._conn.request(method, path, headers=headers or {})
        response = self._conn.getresponse()
        body = response.read()
        return response.status, body, dict(response.getheaders())


def poster_paths(base: str, count: int, clients: int) -> list[str]:
    import json

    def one(scene_id: int) -> str | None:
        status, body, _ = Client(base).call("GET", f"/library/metadata/{scene_id}")
        if status != 200:
            return None
        thumb = json.loads(body)["MediaContainer"]["Metadata"][0].get("thumb")
        if not thumb:
            return None
        return urlsplit(thumb).path

    with ThreadPoolExecutor(clients) as pool:
        return [p for p in pool.map(one, range(1, count + 1)) if p]


def run_phase(base: str, requests: list[tuple[str, dict[str, str]]], clients: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    work = iter(requests)
    work_lock = threading.Lock()

    def worker() -> None:
        client = Client(base)
        mine, seen = [], {}
        while True:
            with work_lock:
                item = next(work, None)
            if item is None:
                break
            path, headers = item
            started = time.perf_counter()
            status, _, _ = client.call("GET", path, headers)
            mine.append(time.perf_counter() - started)
            seen[status] = seen.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "mean": statistics.fmean(latencies) * 1000, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="distinct posters (scenes) to fetch")
    parser.add_argument("--rounds", type=int, default=5, help="warm passes over every poster")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=16, help="s2p's request threads")
    parser.add_argument("--stash-latency", type=float, default=0.01, help="seconds Stash takes per request")
    parser.add_argument("--stash-concurrency", type=int, default=4, help="requests Stash serves at once")
    parser.add_argument("--poster", choices=("original", "letterbox", "crop"), default="original")
    args = parser.parse_args()

    stash = Stash(args.images, args.stash_latency, args.stash_concurrency)
    workdir = Path(tempfile.mkdtemp(prefix="s2p-bench-images-"))
    process, base = start_s2p(stash.url, workdir, args)
    try:
        paths = poster_paths(base, args.images, args.clients)
        if not paths:
            raise SystemExit("no poster URLs came back; see " + str(workdir / "s2p.log"))
        phases = []
        before = stash.image_requests()
        phases.append(("cold", run_phase(base, [(p, {}) for p in paths], args.clients)))
        phases[-1][1]["stash"] = stash.image_requests() - before
        etags = {}
        probe = Client(base)
        for p in paths:
            headers = {k.lower(): v for k, v in probe.call("GET", p)[2].items()}
            etags[p] = headers.get("etag", "")
        before = stash.image_requests()
        phases.append(("warm", run_phase(base, [(p, {}) for p in paths] * args.rounds, args.clients)))
        phases[-1][1]["stash"] = stash.image_requests() - before
        before = stash.image_requests()
        phases.append(("304", run_phase(base, [(p, {"If-None-Match": etags[p]}) for p in paths] * args.rounds,
                                        args.clients)))
        phases[-1][1]["stash"] = stash.image_requests() - before
    finally:
        process.terminate()
        process.wait(20)
        stash.stop()

    print(f"s2p image route: {len(paths)} posters ({args.poster}), {args.clients} clients, s2p threads "
          f"{args.threads}, Stash {args.stash_latency * 1000:.0f} ms x {args.stash_concurrency}")
    print(f"command: .venv/bin/python bench/images.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"{'phase':<6} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'Stash images':>12}  statuses")
    for name, r in phases:
        statuses = ", ".join(f"{k}x{v}" for k, v in sorted(r["statuses"].items()))
        print(f"{name:<6} {r['requests']:>8} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
              f"{r['stash']:>12}  {statuses}")


if __name__ == "__main__":
    main()
