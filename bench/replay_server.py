"""A bare waitress app that serves recorded answers, for benchmarks.

    .venv/bin/python bench/replay_server.py ANSWERS.pickle --threads 16

``ANSWERS.pickle`` maps ``(method, path with query, request body)`` to
``(status line, headers, body)``, as ``bench/rescan.py`` records s2p's own
answers.  No routing, no middleware, no logging: one dict lookup per request,
so its rate is what waitress itself can serve on this machine, the ceiling
for s2p.  Prints its URL on the first line of stdout, then serves until
killed; an unknown request gets a 404.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import socket
import sys
from collections.abc import Callable, Iterable

import waitress

NOT_FOUND = ("404 Not Found", [("Content-Type", "text/plain")], b"not recorded\n")


def app_for(answers: dict) -> Callable:
    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, headers, data = answers.get((environ["REQUEST_METHOD"], environ["REQUEST_URI"], body), NOT_FOUND)
        start_response(status, headers + [("Content-Length", str(len(data)))])
        return [data]
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("answers")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with open(args.answers, "rb") as f:
        answers = pickle.load(f)
    logging.getLogger("waitress").setLevel(logging.ERROR)  # no queue-depth warnings
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    sys.stdout.close()
    waitress.serve(app_for(answers), host="127.0.0.1", port=port, threads=args.threads, ident="bare", _quiet=True)


if __name__ == "__main__":
    main()
