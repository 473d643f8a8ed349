"""Live sync: Stash queries per cycle, and how a bulk edit's refreshes spread.

    .venv/bin/python bench/sync.py                         # 10000 and 50000 scenes
    .venv/bin/python bench/sync.py --sizes 10000 --changed 1000

For each size, a library from ``s2p.demo.library.generate(N)`` is served on
loopback by the stand-in Stash; s2p's own sync service (Stash client,
SQLite store, defaults of [sync]) runs against it, with a Plex stand-in
that has an item for every scene and records each refresh.  Printed per
size: the Stash queries and the time of a cycle with nothing changed (the
scene index is loaded first, as in the server: its refresh is the cycle's
"scenes updated since" query); then,
after --changed scenes are retagged at once (one tag edited, as a bulk tag
edit in Stash does), the queries of the cycle that sees it, and how the
refreshes spread over the following cycles at [sync] max_refresh_per_minute
(cycles are run back to back on a simulated clock, one interval apart).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s2p.config import Settings  # noqa: E402
from s2p.demo import start_standin  # noqa: E402
from s2p.demo.library import generate  # noqa: E402
from s2p.paths.pathmap import PathMap  # noqa: E402
from s2p.scenes.index import SceneIndex  # noqa: E402
from s2p.stash.api import StashAPI  # noqa: E402
from s2p.stash.client import StashClient  # noqa: E402
from s2p.sync.service import SyncService  # noqa: E402
from s2p.sync.store import SyncStore  # noqa: E402

API_KEY = "bench-key-0123456789abcdef"
LATER = "2030-01-01T00:00:00+00:00"


class Item:
    def __init__(self, key: int, log: list):
        self.ratingKey = key
        self._log = log

    def refresh(self) -> None:
        self._log.append(self.ratingKey)


class PlexStandIn:
    """Every scene has one item; each refresh is recorded."""

    def __init__(self) -> None:
        self.refreshed: list[int] = []

    def find_scene(self, scene_id: str) -> list[Item]:
        return [Item(int(scene_id), self.refreshed)]

    def sections(self) -> list:
        return []

    # As ``pms.libraries.PlexLibraries``: the libraries are always known.
    def items(self, *, newer_than: float | None = None) -> "PlexStandIn":
        return self

    def confirmed(self, since: float) -> bool:
        return True

    def failed(self) -> None:
        pass

    def explain(self, exc: Exception, doing: str) -> tuple[str, bool]:
        return str(exc), False


def one_size(count: int, changed: int) -> None:
    library = generate(count)
    server, standin = start_standin(library, api_key=API_KEY)
    now = [time.time()]
    with tempfile.TemporaryDirectory() as state:
        settings = Settings.model_validate({
            "stash": {"url": server.url, "api_key": API_KEY, "timeout": 30},
            "plex": {"url": "http://127.0.0.1:9", "token": "bench"}, "state": {"dir": state}})
        client = StashClient(settings.stash)
        plex = PlexStandIn()
        index = SceneIndex(StashAPI(client), PathMap(), settings.index)
        index.load()
        sync = SyncService(settings, StashAPI(client), store=SyncStore(state), plex=plex,
                           forget=lambda scene_id: None, gone=lambda scene_id, items: None, index=index,
                           clock=lambda: now[0])
        sync.cycle()  # the starting point
        standin.reset_counts()
        started = time.perf_counter()
        report = sync.cycle()
        quiet_ms = (time.perf_counter() - started) * 1000
        quiet_queries = standin.counts["graphql"]
        # A bulk tag edit: one new tag on `changed` scenes, then the tag's own edit.
        library.add_tag("9999", "Bulk edited")
        library.update_entity("tag", "9999", updated_at=LATER)
        for scene_id in list(library.scenes)[:changed]:
            library.scenes[scene_id]["tags"].append("9999")
        standin.reset_counts()
        started = time.perf_counter()
        report = sync.cycle()
        busy_ms = (time.perf_counter() - started) * 1000
        busy_queries = standin.counts["graphql"]
        spread = [report.refreshed]
        while sync.store.pending() and len(spread) < 1000:
            now[0] += sync.interval
            spread.append(sync.cycle().refreshed)
        minutes = len(spread) * sync.interval / 60
        print(f"{count:>6} scenes: nothing changed: {quiet_queries} Stash queries, {quiet_ms:.0f} ms; "
              f"{changed} retagged at once: {busy_queries} Stash queries, {busy_ms:.0f} ms, "
              f"{report.changed} scenes found changed; refreshed {sum(spread)} items, at most "
              f"{max(spread)} a cycle, over {len(spread)} cycles ({minutes:.0f} min at "
              f"{settings.sync.max_refresh_per_minute}/min)")
        sync.close()
        client.close()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--changed", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for count in args.sizes:
        one_size(count, args.changed)


if __name__ == "__main__":
    main()
