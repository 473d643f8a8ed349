"""A stand-in Stash in its own process, for benchmarks.

    .venv/bin/python bench/stash_server.py --scenes 2000 --latency 0.05 --concurrency 4

prints its URL on the first line of stdout, then serves until killed.  Like a
SQLite-backed Stash, it answers at most --concurrency requests at a time, each
taking --latency seconds.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from launch import API_KEY

from s2p.demo import start_standin
from s2p.demo.library import generate

# The stand-in draws its pictures; this many stay drawn (s2p.demo.library._png's cache).
IMAGES_KEPT = 4000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    parser.add_argument("--cold-images", action="store_true",
                        help="draw each scene's screenshot when first asked (default: before serving, as a real "
                             "Stash has them on disk)")
    args = parser.parse_args()
    logging.getLogger("waitress").setLevel(logging.ERROR)  # clients hanging up are not news here
    library = generate(args.scenes, seed=args.seed)
    if not args.cold_images:
        for scene_id in sorted(library.scenes, key=int)[:IMAGES_KEPT]:
            library.image("scene", scene_id)
    server, _ = start_standin(library, api_key=API_KEY, latency=args.latency,
                              max_concurrency=args.concurrency, threads=32, port=args.port)
    print(server.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
