"""Replay a full Plex library rescan against s2p and a slow, SQLite-like Stash.

    .venv/bin/python bench/rescan.py                      # 2,000 items, 64 clients, 50 ms Stash
    .venv/bin/python bench/rescan.py --items 500 --clients 16 --latency 0.02
    .venv/bin/python bench/rescan.py --scenes 50000       # same rescan, 50,000 scenes indexed
    .venv/bin/python bench/rescan.py --cpu-bound          # Stash at full speed: s2p's own cost, against
                                                # a bare waitress replaying s2p's answers
    .venv/bin/python bench/rescan.py --cpu-bound --against /tmp/old --runs 2   # and an older checkout

Three processes: a stand-in Stash (at most --stash-concurrency requests at a
time, each taking --latency seconds), s2p itself (``python -m s2p serve``),
and this one, which plays Plex: for every item a match, then the metadata of
the matched scene, then its poster and background, from --clients concurrent
connections.  It prints per-route latencies, throughput, how many requests
reached Stash and s2p's peak RSS; then the same for s2p with its cache,
batching and index turned off ("naive"), and the ratio of the two, which holds
on a noisy machine better than either absolute figure.  A warm phase then
repeats match and metadata requests from several processes to measure
throughput and s2p's own time per request (its Server-Timing header).

With --cpu-bound Stash answers at once (no latency, no naive run, no warm
phase), so the figure is s2p's own cost.  Every answer s2p gives is recorded,
and a bare waitress app (same threads, no routing, no middleware) then serves
the same rescan from those recorded bytes: the ceiling of this server on this
machine.  s2p's rate is printed as a ratio of it, run by run, alternating;
--against runs an older checkout's s2p in between, with the same harness.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
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
REPO = HERE.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from launch import add_stash_options, config, get_json, serve_s2p, stash_operations, stopped_after  # noqa: E402

from s2p.demo.library import generate  # noqa: E402

STASH_ROOT = "/stash/library"
PLEX_ROOT = "/plex/library"


# ------------------------------------------------------------------ processes


def start_stash(args) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "stash_server.py"), "--scenes", str(args.scenes), "--latency",
         str(args.latency), "--concurrency", str(args.stash_concurrency), "--seed", str(args.seed)],
        stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit("the stand-in Stash did not start")
    return process, url


def start_s2p(stash_url: str, workdir: Path, naive: bool, args, repo: Path | None = None,
              ) -> tuple[subprocess.Popen, str]:
    name = "naive" if naive else "s2p"
    if repo is not None:
        name += "-" + repo.name
    return serve_s2p(workdir, name, lambda port: config(
        port, stash_url, server=f"threads = {args.threads}\n", stash=args.stash_toml.replace(";", "\n"), rest=f"""
[cache]
enabled = {str(not naive).lower()}
batch_window_ms = {0 if naive else args.batch_window_ms}

[index]
enabled = {str(not naive).lower()}

[state]
dir = "{workdir / ('state-' + name)}"

[log]
level = "{args.log_level}"

{path_rules()}"""), index=not naive, **({"repo": repo} if repo else {}))


def path_rules() -> str:
    """The bench library's rule: Stash under STASH_ROOT, Plex under PLEX_ROOT."""
    return f"""[[paths]]
name = "library"
stash_to_plex = ["^{STASH_ROOT}/(.*)$", "{PLEX_ROOT}/\\\\1"]
plex_to_stash = ["^{PLEX_ROOT}/(.*)$", "{STASH_ROOT}/\\\\1"]
"""


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


# ------------------------------------------------------------------ the replay


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.server: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        # (method, path, body) -> (status line, headers, body): what a bare replay serves
        self.answers: dict[tuple[str, str, bytes], tuple[str, list[tuple[str, str]], bytes]] | None = None

    def keep(self, method: str, path: str, body: bytes | None, response: http.client.HTTPResponse,
             data: bytes) -> None:
        if self.answers is None:
            return
        headers = [(k, v) for k, v in response.getheaders()
                   if k.lower() not in ("date", "server", "content-length", "connection", "server-timing")]
        with self.lock:
            self.answers[(method, path, body or b"")] = (f"{response.status} {response.reason}", headers, data)

    def add(self, route: str, seconds: float, status: int, server_ms: float | None) -> None:
        with self.lock:
            self.latency.setdefault(route, []).append(seconds)
            by_status = self.statuses.setdefault(route, {})
            by_status[status] = by_status.get(status, 0) + 1
            if server_ms is not None:
                self.server.setdefault(route, []).append(server_ms)


class Client:
    """One keep-alive connection, like one of Plex's connections."""

    def __init__(self, url: str, recorder: Recorder):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.recorder = recorder
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, route: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body else {}
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2:
                    self.recorder.add(route, time.monotonic() - started, 0, None)
                    return 0, b""
        self.recorder.keep(method, path, body, response, data)
        timing = response.getheader("Server-Timing") or ""
        server_ms = float(timing.split("dur=")[1]) if "dur=" in timing else None
        self.recorder.add(route, time.monotonic() - started, response.status, server_ms)
        return response.status, data


def plex_filenames(args) -> list[str]:
    library = generate(args.scenes, seed=args.seed)
    names = []
    for scene_id in sorted(library.scenes, key=int)[: args.items]:
        path = library.scenes[scene_id]["files"][0]["path"]
        names.append(path[len(STASH_ROOT) + 1:])  # Plex sends paths relative to the library root
    return names


def rescan(url: str, names: list[str], clients: int, *, keep_answers: bool = False,
           pictures: tuple[str, ...] = ("thumb", "art")) -> tuple[Recorder, float, int]:
    recorder = Recorder()
    if keep_answers:
        recorder.answers = {}
    local = threading.local()
    matched = [0]
    lock = threading.Lock()

    def one(name: str) -> None:
        if not hasattr(local, "client"):
            local.client = Client(url, recorder)
        client = local.client
        status, body = client.call("match", "POST", "/library/metadata/matches",
                                   json.dumps({"type": 1, "filename": name}).encode())
        if status != 200:
            return
        items = json.loads(body)["MediaContainer"]["Metadata"]
        if not items:
            return
        with lock:
            matched[0] += 1
        status, body = client.call("metadata", "GET", f"/library/metadata/{items[0]['ratingKey']}")
        if status != 200:
            return
        item = json.loads(body)["MediaContainer"]["Metadata"][0]
        for field in pictures:
            if field in item:
                target = urlsplit(item[field])
                client.call("image", "GET", target.path + (f"?{target.query}" if target.query else ""))

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, names))
    return recorder, time.monotonic() - started, matched[0]


class RawClient:
    """A keep-alive HTTP/1.1 client on a bare socket: little enough work per
    request that the client, not s2p, is rarely the limit of the warm phase."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection(self.address)
        self.buffer = b""

    def request(self, raw: bytes) -> tuple[int, float | None]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, server_ms = 0, None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"server-timing" and b"dur=" in value:
                server_ms = float(value.split(b"dur=")[1])
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buffer = rest[length:]
        return status, server_ms

    def get(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def post(self, path: str, body: bytes) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _warm_worker(url: str, names: list[str], rating_keys: list[str], seconds: float, threads: int, queue) -> None:
    results: dict[str, list[float]] = {"match": [], "metadata": []}
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(offset: int) -> None:
        client = RawClient(url)
        matches = [client.post("/library/metadata/matches", json.dumps({"type": 1, "filename": n}).encode())
                   for n in names]
        metadata = [client.get(f"/library/metadata/{k}") for k in rating_keys]
        local = {"match": [], "metadata": []}
        done = errors = 0
        i = offset
        while time.monotonic() < stop:
            route = "metadata" if i % 2 else "match"
            raw = metadata[i % len(metadata)] if i % 2 else matches[i % len(matches)]
            status, server_ms = client.request(raw)
            done += 1
            errors += status != 200
            if server_ms is not None:
                local[route].append(server_ms)
            i += threads
        with lock:
            for route, values in local.items():
                results[route].extend(values)
            counts["requests"] += done
            counts["errors"] += errors

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((counts, results))


def warm(url: str, names: list[str], rating_keys: list[str], seconds: float, processes: int, threads: int):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_warm_worker, args=(url, names, rating_keys, seconds, threads, queue))
             for _ in range(processes)]
    for p in procs:
        p.start()
    total = errors = 0
    server: dict[str, list[float]] = {}
    for _ in procs:
        counts, results = queue.get()
        total += counts["requests"]
        errors += counts["errors"]
        for k, v in results.items():
            server.setdefault(k, []).extend(v)
    for p in procs:
        p.join()
    return total / seconds, errors, server


def warm_wrk(url: str, names: list[str], rating_keys: list[str], seconds: float, workdir: Path) -> float | None:
    """Requests per second from wrk (a C load generator, when installed):
    a Python client on the same two cores holds s2p back."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    bodies = ",".join(json.dumps(json.dumps({"type": 1, "filename": n})) for n in names)
    keys = ",".join(json.dumps(k) for k in rating_keys)
    script = workdir / "mixed.lua"
    script.write_text(f"""
local bodies = {{{bodies}}}
local keys = {{{keys}}}
local i = 0
request = function()
  i = i + 1
  if i % 2 == 0 then
    return wrk.format("GET", "/library/metadata/" .. keys[(i // 2) % #keys + 1])
  end
  return wrk.format("POST", "/library/metadata/matches", {{["Content-Type"] = "application/json"}},
                    bodies[(i // 2) % #bodies + 1])
end
""")
    output = subprocess.run([wrk, "-t2", "-c16", f"-d{int(seconds)}s", "-s", str(script), url],
                            capture_output=True, text=True, timeout=seconds + 60).stdout
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


# ------------------------------------------------------------------ reporting


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args, naive: bool, names: list[str], workdir: Path, *, repo: Path | None = None,
        keep_answers: bool = False) -> dict:
    stash, stash_url = start_stash(args)
    with stopped_after(stash):
        s2p, url = start_s2p(stash_url, workdir, naive, args, repo)
        with stopped_after(s2p):
            rss_ready = rss_mb(s2p.pid)
            before = get_json(stash_url, "/_standin/counts")
            profiler = start_profiler(args.py_spy, s2p.pid, repo) if args.py_spy else None
            cpu_before = cpu_seconds(s2p.pid)
            others_before = cpu_seconds(stash.pid), cpu_seconds(os.getpid())
            recorder, elapsed, matched = rescan(url, names, args.clients, keep_answers=keep_answers,
                                                pictures=args.pictures)
            cpu = cpu_seconds(s2p.pid) - cpu_before
            stash_cpu = cpu_seconds(stash.pid) - others_before[0]
            client_cpu = cpu_seconds(os.getpid()) - others_before[1]
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
            after = get_json(stash_url, "/_standin/counts")
            result = {
                "mode": ("naive" if naive else "s2p") + (f" ({repo})" if repo else ""),
                "cpu_seconds": cpu,
                "stash_cpu_seconds": stash_cpu,
                "client_cpu_seconds": client_cpu,
                "answers": recorder.answers,
                "elapsed": elapsed,
                "matched": matched,
                "requests": sum(len(v) for v in recorder.latency.values()),
                "routes": {route: {"count": len(v), "p50": pct(v, .5), "p95": pct(v, .95), "p99": pct(v, .99),
                                   "max": max(v), "errors": sum(n for s, n in recorder.statuses[route].items()
                                                                if s != 200)}
                           for route, v in recorder.latency.items()},
                "stash_graphql": after.get("graphql", 0) - before.get("graphql", 0),
                "stash_images": after.get("image", 0) - before.get("image", 0),
                "stash_peak_concurrency": after.get("peak_concurrency"),
                "stash_operations": stash_operations(before, after),
                "rss_mb": peak_rss_mb(s2p.pid),
                "rss_ready_mb": rss_ready,
                "rss_after_rescan_mb": rss_mb(s2p.pid),
            }
            if not naive and args.warm > 0:
                keys = [str(i) for i in range(1, len(names) + 1)]
                rate, errors, server = warm(url, names, keys, args.warm, args.warm_processes, args.warm_threads)
                result["warm_rps"] = rate
                result["warm_errors"] = errors
                result["warm_wrk_rps"] = warm_wrk(url, names, keys, args.warm, workdir)
                result["warm_server_p50_ms"] = {k: statistics.median(v) for k, v in server.items() if v}
                result["rss_mb"] = peak_rss_mb(s2p.pid)
            return result


def start_profiler(prefix: str, pid: int, repo: Path | None) -> subprocess.Popen:
    """py-spy sampling s2p's every thread (``pip install py-spy``), written as
    collapsed stacks to ``<prefix>-<release>.txt`` when it is interrupted."""
    out = f"{prefix}-{(repo or REPO).name}-{pid}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "1000",
                                "--nonblocking", "--gil", "--threads", "--output", out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the rescan starts
    return process


def start_replay(answers: dict, threads: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    """The bare waitress app serving ``answers`` (bench/replay_server.py)."""
    recorded = workdir / "answers.pickle"
    recorded.write_bytes(pickle.dumps(answers))
    process = subprocess.Popen([sys.executable, str(HERE / "replay_server.py"), str(recorded),
                                "--threads", str(threads)], stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    parts = urlsplit(url)
    for _ in range(200):
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the bare replay app did not start")


def replay(answers: dict, names: list[str], args, workdir: Path) -> dict:
    """The same rescan against a bare waitress app serving s2p's recorded answers."""
    process, url = start_replay(answers, args.threads, workdir)
    with stopped_after(process):
        cpu_before = cpu_seconds(process.pid)
        recorder, elapsed, matched = rescan(url, names, args.clients, pictures=args.pictures)
        cpu = cpu_seconds(process.pid) - cpu_before
    requests_done = sum(len(v) for v in recorder.latency.values())
    errors = sum(n for by_status in recorder.statuses.values() for s, n in by_status.items() if s != 200)
    return {"elapsed": elapsed, "requests": requests_done, "matched": matched, "cpu_seconds": cpu,
            "errors": errors, "rate": requests_done / elapsed}


def cpu_bound(args, names: list[str], workdir: Path) -> list[dict]:
    """--runs rounds of: this s2p, the --against checkout's, the bare replay of this s2p's answers."""
    rounds = []
    for n in range(1, args.runs + 1):
        entry: dict = {}
        ours = run(args, False, names, workdir, keep_answers=True)
        show(ours)
        entry["s2p"] = ours
        if args.against:
            theirs = run(args, False, names, workdir, repo=Path(args.against).resolve())
            show(theirs)
            entry["against"] = theirs
        bare = replay(ours.pop("answers"), names, args, workdir)
        entry["bare"] = bare
        print(f"\n== bare waitress replaying s2p's {len(names)}-item answers: {bare['requests']} requests "
              f"({bare['errors']} not 200), {bare['elapsed']:.1f} s, {bare['rate']:.0f} requests/s, "
              f"{bare['cpu_seconds']:.1f} s CPU")
        rate = ours["requests"] / ours["elapsed"]
        line = f"== round {n}: s2p {rate:.0f} req/s = {rate / bare['rate']:.2f} of the bare replay"
        if args.against:
            old = theirs["requests"] / theirs["elapsed"]
            line += f"; {Path(args.against).name} {old:.0f} req/s, s2p x{rate / old:.2f} of it"
        print(line)
        rounds.append(entry)
    rate = [e["s2p"]["requests"] / e["s2p"]["elapsed"] for e in rounds]
    p99 = [round(e["s2p"]["routes"]["match"]["p99"] * 1000) for e in rounds]
    of_bare = [r / e["bare"]["rate"] for r, e in zip(rate, rounds, strict=True)]
    summary = (f"\n== {len(rounds)} rounds: s2p {' / '.join(f'{r:.0f}' for r in rate)} req/s, match p99 "
               f"{' / '.join(map(str, p99))} ms, of the bare replay {' / '.join(f'{r:.2f}' for r in of_bare)}")
    if args.against:
        summary += ", of " + Path(args.against).name + " " + " / ".join(
            f"x{r / (e['against']['requests'] / e['against']['elapsed']):.2f}"
            for r, e in zip(rate, rounds, strict=True))
    print(summary)
    return rounds


def show(result: dict) -> None:
    print(f"\n== {result['mode']}: {result['requests']} requests, {result['matched']} items matched, "
          f"{result['elapsed']:.1f} s, {result['requests'] / result['elapsed']:.0f} requests/s, "
          f"CPU: s2p {result['cpu_seconds']:.1f} s, Stash {result['stash_cpu_seconds']:.1f} s, "
          f"clients {result['client_cpu_seconds']:.1f} s")
    print(f"   {'route':<9} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for route, r in sorted(result["routes"].items()):
        print(f"   {route:<9} {r['count']:>6} {r['p50'] * 1000:>8.1f} {r['p95'] * 1000:>8.1f} "
              f"{r['p99'] * 1000:>8.1f} {r['max'] * 1000:>8.1f} {r['errors']:>7}")
    plex_requests = result["requests"]
    print(f"   Stash: {result['stash_graphql']} GraphQL queries "
          f"(1 per {plex_requests / max(1, result['stash_graphql']):.0f} Plex requests), "
          f"{result['stash_images']} image fetches, at most {result['stash_peak_concurrency']} at once")
    print("   Stash queries by operation: " + ", ".join(f"{k} {v}" for k, v in
                                                       sorted(result["stash_operations"].items())))
    print(f"   s2p peak RSS: {result['rss_mb']:.0f} MB (ready, index loaded: {result['rss_ready_mb']:.0f} MB; "
          f"after the rescan: {result['rss_after_rescan_mb']:.0f} MB)")
    if "warm_rps" in result:
        server = ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(result["warm_server_p50_ms"].items()))
        print(f"   warm cache: {result['warm_rps']:.0f} requests/s (match and metadata, "
              f"{result['warm_errors']} not 200, Python clients on the same CPUs); "
              f"s2p's own time per request, p50: {server}")
        if result.get("warm_wrk_rps"):
            print(f"   warm cache with wrk (2 threads, 16 connections): {result['warm_wrk_rps']:.0f} requests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000, help="files in the rescan (default 2000)")
    parser.add_argument("--scenes", type=int, default=None, help="scenes in Stash (default: --items)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent Plex connections (default 64)")
    add_stash_options(parser)
    parser.add_argument("--batch-window-ms", type=float, default=5.0, help="s2p's [cache] batch_window_ms (default 5)")
    parser.add_argument("--warm", type=float, default=10.0, help="seconds of the warm phase (0: skip)")
    parser.add_argument("--warm-processes", type=int, default=2)
    parser.add_argument("--warm-threads", type=int, default=8)
    parser.add_argument("--skip-naive", action="store_true", help="only measure s2p as configured")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--cpu-bound", action="store_true",
                        help="Stash at full speed (--latency 0, no naive run, no warm phase), s2p against a bare "
                             "waitress replaying its own answers")
    parser.add_argument("--pictures", default=None,
                        help="which pictures each item asks for: thumb,art (default) or thumb (--cpu-bound's default)")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample s2p with py-spy during the rescan "
                        "(collapsed stacks in PREFIX-<checkout>-<pid>.txt)")
    parser.add_argument("--stash-toml", default="", help="extra [stash] keys for s2p, ';'-separated, "
                        "e.g. 'max_concurrency = 8'")
    parser.add_argument("--runs", type=int, default=2, help="rounds of a --cpu-bound run (default 2)")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="with --cpu-bound: also run the s2p of this checkout (e.g. a git worktree of a release)")
    args = parser.parse_args()
    args.scenes = args.scenes or args.items
    if args.cpu_bound:
        args.latency, args.warm, args.skip_naive = 0.0, 0.0, True
    args.pictures = tuple((args.pictures or ("thumb" if args.cpu_bound else "thumb,art")).split(","))
    names = plex_filenames(args)
    print(f"rescan of {len(names)} items ({args.scenes} scenes in Stash), {args.clients} clients, "
          f"Stash {args.latency * 1000:.0f} ms per request, {args.stash_concurrency} at once; "
          f"{os.cpu_count()} CPUs")
    results = []
    with tempfile.TemporaryDirectory(prefix="s2p-bench-") as tmp:
        if args.cpu_bound:
            rounds = cpu_bound(args, names, Path(tmp))
            if args.json:
                Path(args.json).write_text(json.dumps(rounds, indent=2))
            return
        for naive in ([False] if args.skip_naive else [False, True]):
            result = run(args, naive, names, Path(tmp))
            result.pop("answers")
            show(result)
            results.append(result)
    if len(results) == 2:
        fast, slow = results
        print("\n== naive / s2p")
        print(f"   total time x{slow['elapsed'] / fast['elapsed']:.1f}, Stash GraphQL queries "
              f"x{slow['stash_graphql'] / max(1, fast['stash_graphql']):.1f}, p99 per route: " + ", ".join(
                  f"{r} x{slow['routes'][r]['p99'] / fast['routes'][r]['p99']:.1f}"
                  for r in sorted(fast["routes"]) if r in slow["routes"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
