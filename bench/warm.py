"""The warm path: a cached answer against the server's own ceiling.

    .venv/bin/python bench/warm.py                       # wrk -t2 -c16 -d5s per case
    .venv/bin/python bench/warm.py --seconds 10 --connections 32

s2p (``python -m s2p serve``, its scene index loaded, defaults otherwise)
against a stand-in Stash; each request is made once first, so what is
measured is a warm answer.  Then, in the same run, a bare waitress app with
the same thread count answers the very same bytes (pre-serialized, no
routing, no middleware) on the same machine.  For a repeated automatic
match, a metadata request and a poster, prints both rates, both p99s and
the ratio.  Needs wrk (apt-get install wrk); without it, says so.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from launch import config, free_port, serve_s2p, start_stash  # noqa: E402
from rescan import path_rules  # noqa: E402

from s2p.demo.library import generate  # noqa: E402


def match_body() -> dict:
    """A file of the bench library, as Plex names it (relative to the library root)."""
    library = generate(SCENES)
    path = library.scenes["1"]["files"][0]["path"]
    return {"type": 1, "filename": path.split("/", 3)[3]}

SCENES = 2000

BARE_APP = textwrap.dedent('''
    import logging, sys, waitress
    logging.getLogger("waitress").setLevel(logging.ERROR)  # no queue-depth warnings
    status, headers, body = sys.argv[3], [tuple(h.split(": ", 1)) for h in sys.argv[4].split("\\n") if h], None
    body = open(sys.argv[5], "rb").read()
    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), ident="bare",
                   _quiet=True)
''')


def wrk(url: str, args, workdir: Path, *, body: bytes | None = None) -> tuple[float, float]:
    """(requests per second, p99 in ms) of wrk against ``url``."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--latency"]
    if body is not None:
        script = workdir / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = {json.dumps(body.decode())}\n", encoding="utf-8")
        command += ["-s", str(script)]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    return rate, float(p99) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bare(answer: requests.Response, threads: int, workdir: Path, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    body = workdir / f"{name}.body"
    body.write_bytes(answer.content)
    headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.items()
                        if k.lower() in ("content-type", "cache-control", "etag", "last-modified"))
    process = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port), str(threads),
                                f"{answer.status_code} {answer.reason}", headers, str(body)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.05)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server-threads", type=int, help="[server] threads for s2p and the bare app "
                        "(default: s2p's own default)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    stash, stash_url = start_stash("--scenes", str(SCENES))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = f"threads = {args.server_threads}\n" if args.server_threads else ""
        s2p, url = serve_s2p(workdir, "s2p", lambda port: config(port, stash_url, server=server, rest=f"""
[state]
dir = "{workdir / 'state'}"

{path_rules()}"""))
        try:
            threads = requests.get(url + "/healthz", timeout=10).json().get("http", {}).get("threads") or 16
            body = match_body()
            match = requests.post(url + "/library/metadata/matches", json=body, timeout=30)
            scene = match.json()["MediaContainer"]["Metadata"][0]["ratingKey"]
            metadata = requests.get(f"{url}/library/metadata/{scene}", timeout=30)
            poster_url = metadata.json()["MediaContainer"]["Metadata"][0]["thumb"]
            poster = requests.get(poster_url, timeout=30)
            cases = [("warm match", "/library/metadata/matches", match, json.dumps(body).encode()),
                     ("warm metadata", f"/library/metadata/{scene}", metadata, None),
                     ("warm poster", urlsplit(poster_url).path, poster, None)]
            print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; s2p and the bare app "
                  f"with {threads} threads")
            for name, path, answer, body in cases:
                assert answer.status_code == 200, (name, answer.status_code)
                ours = wrk(url + path, args, workdir, body=body)
                process, bare_url = bare(answer, threads, workdir, name.replace(" ", "_"))
                try:
                    theirs = wrk(bare_url + path, args, workdir, body=body)
                finally:
                    process.terminate()
                    process.wait(10)
                print(f"{name:14} s2p {ours[0]:8.0f} req/s p99 {ours[1]:6.1f} ms | bare waitress {theirs[0]:8.0f} "
                      f"req/s p99 {theirs[1]:6.1f} ms | ratio {ours[0] / theirs[0]:.2f} ({len(answer.content)} bytes)")
        finally:
            s2p.terminate()
            s2p.wait(10)
            stash.terminate()


if __name__ == "__main__":
    main()
