"""Starting s2p for a benchmark: a config file, ``python -m s2p serve`` in
its own process on a free port, and a wait until it is ready."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key-0000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, path: str) -> dict:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read() or b"{}")
    finally:
        conn.close()


def wait_until_ready(url: str, index: bool, seconds: float = 600) -> None:
    """Until ``/healthz`` answers (and, with ``index``, says the scene index is loaded)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            health = get_json(url, "/healthz")
        except (OSError, ValueError):
            time.sleep(0.1)
            continue
        if not index or health.get("index", {}).get("ready", True):
            return
        time.sleep(0.2)
    raise SystemExit(f"s2p at {url} did not become ready")


def config(port: int, stash_url: str, *, server: str = "", stash: str = "", rest: str = "") -> str:
    """s2p's TOML for a benchmark: loopback on ``port``, the stand-in Stash
    with the bench key, plus each benchmark's own keys (TOML lines)."""
    return f"""
[server]
host = "127.0.0.1"
port = {port}
{server}
[stash]
url = "{stash_url}"
api_key = "{API_KEY}"
{stash}
{rest}"""


def serve_s2p(workdir: Path, name: str, config_for: Callable[[int], str], *,
              index: bool = True, repo: Path = REPO) -> tuple[subprocess.Popen, str]:
    """s2p serving ``config_for(port)`` (TOML); its log is ``workdir/<name>.log``.
    The benchmark's own S2P_* environment is not passed on: the config alone counts.
    ``repo``: the checkout whose s2p runs (another release, for a side-by-side run)."""
    port = free_port()
    config = workdir / f"{name}.toml"
    config.write_text(config_for(port), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
    env["PYTHONPATH"] = str(repo)
    with open(workdir / f"{name}.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "s2p", "--config", str(config), "serve"],
                                   stdout=log, stderr=log, env=env, cwd=str(repo))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, index=index)
    except SystemExit:
        process.kill()
        raise SystemExit(f"s2p did not become ready; see {workdir / (name + '.log')}") from None
    return process, url


def start_stash(*args: str) -> tuple[subprocess.Popen, str]:
    """The stand-in Stash in its own process (``bench/stash_server.py`` with
    ``args``, e.g. ``"--scenes", "2000"``): the process and its URL."""
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "stash_server.py"), *args],
                               stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit("the stand-in Stash did not start")
    return process, url


def add_stash_options(parser) -> None:
    """The stand-in Stash's pace and s2p's threads, as every replay of Plex takes them."""
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Stash request (default 0.05)")
    parser.add_argument("--stash-concurrency", type=int, default=4, help="Stash requests at once (default 4)")
    parser.add_argument("--threads", type=int, default=16, help="s2p's [server] threads (default 16)")


def stash_operations(before: dict, after: dict) -> dict[str, int]:
    """The stand-in's GraphQL queries by operation between two readings of its counts."""
    return {k[3:]: after[k] - before.get(k, 0) for k in after if k.startswith("op:") and after[k] - before.get(k, 0)}


@contextmanager
def stopped_after(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``process`` (s2p or the stand-in Stash), stopped when the block ends, however it ends."""
    try:
        yield process
    finally:
        process.terminate()
        process.wait(20)


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, epilog="A helper of the other benchmarks: run one of them "
                            "(bench/*.py), e.g. .venv/bin/python bench/rescan.py --help.").parse_args()
    raise SystemExit("bench/launch.py measures nothing by itself; run another bench/*.py script")
