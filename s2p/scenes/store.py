"""Full scenes by id: what metadata and image requests read.

Three layers keep Stash's load low during a scan: a TTL cache (a scene is
asked once per TTL), single-flight (concurrent requests for one scene share
one load) and batching (requests for different scenes arriving within a few
milliseconds share one ``findScenes(ids:)`` query).

A match also *prefetches* the scene it decided, since Plex asks for its
metadata next.  Prefetches are reserved in the cache at once (a metadata
request arriving meanwhile waits for the prefetch rather than loading the
scene again) and loaded by one background thread in batches, which grow
while the previous batch is loading: during a scan most metadata reaches
Stash in a few large queries.
"""

from __future__ import annotations

import logging
import threading
import time

from s2p.scenes.batching import BatchLoader
from s2p.common.cache import Reservation, TTLCache
from s2p.config import CacheSettings
from s2p.common.deadline import Deadline
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashError, StashUnavailable
from s2p.stash.models import Scene

log = logging.getLogger(__name__)

# Prefetches waiting beyond this are dropped: they are an optimisation only.
MAX_PENDING_PREFETCH = 500
# How long a prefetch may wait for others to share its query.  Plex asks for
# the metadata a moment after the match; a little patience here turns a
# scan's metadata into a few large queries instead of many small ones.
PREFETCH_GATHER = 0.05


class SceneStore:
    def __init__(self, stash: StashAPI, settings: CacheSettings, *, prefetch_budget: float = 10.0):
        self._stash = stash
        self._miss_ttl = settings.miss_ttl
        self._enabled = settings.enabled
        size = settings.max_entries if settings.enabled else 0
        self.cache: TTLCache[Scene | None] = TTLCache(size, settings.ttl)
        self.batcher: BatchLoader[str, Scene] | None = None
        if settings.enabled and settings.batch_window_ms > 0:
            self.batcher = BatchLoader(lambda ids, deadline: self._stash.scenes(ids, deadline=deadline),
                                       window=settings.batch_window_ms / 1000, max_size=settings.batch_size)
        self._prefetch_budget = prefetch_budget
        self._window = settings.batch_window_ms / 1000
        self._batch_size = settings.batch_size
        self._queue: list[Reservation] = []
        self._queue_changed = threading.Condition()
        self._drainer: threading.Thread | None = None
        self._closing = False
        self.prefetch_batches = 0

    def get(self, scene_id: str, *, deadline: Deadline) -> Scene | None:
        """The scene, or ``None`` when Stash has no scene with this id."""
        if not self._enabled:
            return self._stash.scene(scene_id, deadline=deadline)
        try:
            return self.cache.get_or_load(
                scene_id,
                lambda: self._load(scene_id, deadline),
                ttl_for=lambda scene: None if scene is not None else self._miss_ttl,
                wait=deadline.remaining(),
            )
        except TimeoutError:
            raise StashUnavailable("timed out waiting for Stash") from None

    def _load(self, scene_id: str, deadline: Deadline) -> Scene | None:
        if self.batcher is None:
            return self._stash.scene(scene_id, deadline=deadline)
        return self.batcher.load(scene_id, deadline)

    def prefetch(self, scene_id: str) -> None:
        """Load a scene in the background.  Never blocks; dropped when too
        many are waiting (it is an optimisation only)."""
        if not self._enabled:
            return
        reservation = self.cache.reserve(scene_id)
        if reservation is None:  # cached, or already on its way
            return
        with self._queue_changed:
            accepted = not self._closing and len(self._queue) < MAX_PENDING_PREFETCH
            if accepted:
                self._queue.append(reservation)
                if self._drainer is None:
                    self._drainer = threading.Thread(target=self._drain, name="s2p-prefetch", daemon=True)
                    self._drainer.start()
                # The drainer sleeps on an empty queue, or gathers until a batch is
                # full: only then is a wake-up news (one per prefetch cost a scan dearly).
                if len(self._queue) == 1 or len(self._queue) >= self._batch_size:
                    self._queue_changed.notify()
        if not accepted:
            self.cache.abandon(reservation)

    def _drain(self) -> None:
        while True:
            with self._queue_changed:
                while not self._queue and not self._closing:
                    self._queue_changed.wait()
                if self._closing:
                    return
            gather_until = time.monotonic() + max(self._window, PREFETCH_GATHER)
            with self._queue_changed:
                while len(self._queue) < self._batch_size and not self._closing:
                    left = gather_until - time.monotonic()
                    if left <= 0:
                        break
                    self._queue_changed.wait(left)
                batch = self._queue[: self._batch_size]
                del self._queue[: self._batch_size]
            self._load_reserved(batch)

    def _load_reserved(self, batch: list[Reservation]) -> None:
        try:
            found = self._stash.scenes([r.key for r in batch], deadline=Deadline(self._prefetch_budget))
        except StashError as exc:
            log.debug("prefetch of %d scene(s) failed: %s", len(batch), exc)
            for reservation in batch:
                self.cache.abandon(reservation)  # waiting requests load for themselves
            return
        self.prefetch_batches += 1
        for reservation in batch:
            scene = found.get(reservation.key)
            self.cache.fulfil(reservation, scene, None if scene is not None else self._miss_ttl)

    @property
    def pending_prefetches(self) -> int:
        with self._queue_changed:
            return len(self._queue)

    def close(self) -> None:
        with self._queue_changed:
            self._closing = True
            queued, self._queue = self._queue, []
            self._queue_changed.notify_all()
        for reservation in queued:
            self.cache.abandon(reservation)

    def forget(self, scene_id: str) -> None:
        self.cache.invalidate(scene_id)
