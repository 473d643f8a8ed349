"""A flood of slow connections (loopback only): is Plex still answered?

    .venv/bin/python bench/slow_connections.py                 # 1200 connections, 1 and then 20 flooding addresses

s2p (``python -m s2p serve``, connection_limit 512, the defaults otherwise)
against a stand-in Stash.  Each phase opens --connections connections from
127.0.0.2 onwards (loopback aliases), each starting a request and sending a
header line every --trickle seconds without ever finishing it, while a
client on 127.0.0.1 asks for a scene's metadata every 0.2 s for --seconds.
Prints, per phase, how many flood connections s2p kept open, closed at once
and cut later, and the client's answers: count, slowest, and how many took
over a second or failed.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from launch import config, serve_s2p, start_stash  # noqa: E402


def flood(url: str, count: int, addresses: int) -> list[socket.socket]:
    host, port = url.rsplit("//", 1)[1].split(":")
    opened = []
    for n in range(count):
        sock = socket.socket()
        sock.settimeout(1)
        try:
            sock.bind((f"127.0.0.{2 + n % addresses}", 0))
            sock.connect((host, int(port)))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            opened.append(sock)
        except OSError:
            sock.close()
    return opened


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def phase(url: str, args, addresses: int) -> None:
    socks = flood(url, args.connections, addresses)
    opened = len(socks)
    times, failures = [], 0
    end = time.monotonic() + args.seconds
    next_trickle = time.monotonic()
    while time.monotonic() < end:
        if time.monotonic() >= next_trickle:
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            next_trickle += args.trickle
        started = time.monotonic()
        try:
            ok = requests.get(url + "/library/metadata/1", timeout=10).status_code == 200
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - started)
        failures += not ok
        time.sleep(0.2)
    kept = sum(still_open(s) for s in socks)
    for sock in socks:
        sock.close()
    slow = sum(t > 1.0 for t in times)
    print(f"{args.connections} slow connections from {addresses} address(es): {opened} connected, "
          f"{kept} still open after {args.seconds:.0f} s; Plex: {len(times)} answers, slowest "
          f"{max(times) * 1000:.0f} ms, {slow} over 1 s, {failures} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--trickle", type=float, default=2.0)
    args = parser.parse_args()
    stash, stash_url = start_stash("--scenes", "200")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        s2p, url = serve_s2p(workdir, "s2p", lambda port: config(port, stash_url, rest=f"""
[state]
dir = "{workdir / 'state'}"
"""))
        try:
            for addresses in (1, 20):
                phase(url, args, addresses)
        finally:
            s2p.terminate()
            s2p.wait(10)
            stash.terminate()


if __name__ == "__main__":
    main()
