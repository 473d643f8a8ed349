"""How long a full gap comparison takes, and what it costs Stash and Plex.

    .venv/bin/python bench/gaps_scale.py --scenes 50000

Builds a generated Stash library (served by the loopback stand-in) and a
fake PMS holding the same files as Plex would see them, minus a few and plus
a few, then runs one comparison exactly as the scheduler does and prints
wall time, requests sent to each side, peak memory and the gaps found.
The fake PMS comes from tests/fakeplex.py.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakeplex import TOKEN, FakePlex  # noqa: E402

from s2p.config import Settings  # noqa: E402
from s2p.demo import start_standin  # noqa: E402
from s2p.demo.library import generate  # noqa: E402
from s2p.app.runtime import build  # noqa: E402

STASH_ROOT = "/volume1/adult"
PLEX_ROOT = "/data/adult"
IDENT = "tv.plex.agents.custom.s2p"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=50000)
    parser.add_argument("--page-size", type=int, default=1000, help="[index] page_size for the Stash pass")
    args = parser.parse_args()

    started = time.monotonic()
    library = generate(args.scenes, seed=1, root=STASH_ROOT)
    stash_server, standin = start_standin(library, api_key="bench-key-0123456789")
    plex = FakePlex()
    plex.add_section(1, "Scenes", [PLEX_ROOT])
    missing = stray = 0
    for scene_id, record in library.scenes.items():
        if int(scene_id) % 500 == 0:
            missing += 1
            continue
        files = [f["path"].replace(STASH_ROOT, PLEX_ROOT, 1) for f in record["files"]]
        plex.add_item(1, record["title"] or scene_id, files, guid=f"{IDENT}://movie/{scene_id}")
    for n in range(args.scenes // 1000 + 1):
        plex.add_item(1, f"stray {n}", [f"{PLEX_ROOT}/Stray/stray {n}.mp4"], guid=f"local://{n}")
        stray += 1
    plex.start()
    print(f"setup: {args.scenes} Stash scenes, {args.scenes - missing + stray} Plex items "
          f"({missing} scenes left out of Plex, {stray} files only in Plex) in {time.monotonic() - started:.1f} s")

    with tempfile.TemporaryDirectory() as state:
        settings = Settings.model_validate({
            "stash": {"url": stash_server.url, "api_key": "bench-key-0123456789", "timeout": 60},
            "paths": [{"name": "nas", "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
                       "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"]}],
            "index": {"page_size": args.page_size},
            "plex": {"url": plex.url, "token": TOKEN, "timeout": 120},
            "state": {"dir": state},
        })
        services = build(settings)
        assert services.gaps.open()
        standin.reset_counts()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.monotonic()
        result = services.gaps.compare(trigger="bench")
        elapsed = time.monotonic() - began
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats = result.stats
        stash_requests = standin.graphql_requests
        plex_requests = sum(plex.requests.values())
        page = services.gaps.report(limit=0)
        services.stop()
    print(f"comparison: {elapsed:.1f} s wall for {stats['plex_items']} Plex items and {stats['stash_scenes']} "
          f"Stash scenes (reading Stash {stats['stash_seconds']:.1f} s, reading Plex {stats['plex_seconds']:.1f} s)")
    print(f"stash: {stash_requests} GraphQL requests (one paged pass of {args.page_size} scenes per page)")
    print(f"plex: {plex_requests} requests ({plex.page_sizes[-1] if plex.page_sizes else 0} items per page)")
    print(f"memory: peak RSS {rss_after / 1024:.0f} MiB (before the comparison {rss_before / 1024:.0f} MiB; "
          f"includes both fake servers in this process)")
    print("gaps: " + ", ".join(f"{k} {v}" for k, v in page["counts"].items()))
    plex.stop()
    stash_server.stop()
    ok = page["counts"]["stash_only"] == missing and page["counts"]["plex_only"] == stray
    print("result: " + ("as expected" if ok else "UNEXPECTED gap counts"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
