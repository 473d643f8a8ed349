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
from collections.abc import Sequence

from s2p.common.cache import Reservation, TTLCache
from s2p.common.deadline import Deadline
from s2p.config import CacheSettings
from s2p.scenes.batching import BatchLoader
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashError, StashUnavailable
from s2p.stash.models import Scene

log = logging.getLogger(__name__)

_ABSENT = object()

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

    def get_many(self, scene_ids: Sequence[str], *, deadline: Deadline, chunk: int | None = None) -> dict[str, Scene]:
        """Many scenes at once (a page of a listing): the cached ones from the
        cache, the rest in as few ``findScenes(ids:)`` queries as ``chunk``
        (default ``[cache] batch_size``) allows.  Ids Stash does not know are
        left out.  Once the deadline has passed no further query is sent: the
        request is abandoned, so Stash's work would be wasted."""
        size = max(1, chunk or self._batch_size)
        ids = list(dict.fromkeys(scene_ids))
        if not self._enabled:
            found: dict[str, Scene] = {}
            for start in range(0, len(ids), size):
                _check(deadline)
                found.update(self._stash.scenes(ids[start:start + size], deadline=deadline))
            return found
        found = {}
        reserved: list[Reservation] = []
        elsewhere: list[str] = []  # being loaded by another request: wait for it
        for scene_id in ids:
            cached = self.cache.get(scene_id, _ABSENT)
            if cached is not _ABSENT:
                if cached is not None:
                    found[scene_id] = cached
                continue
            reservation = self.cache.reserve(scene_id)
            if reservation is None:
                elsewhere.append(scene_id)
            else:
                reserved.append(reservation)
        # Whole batches are this request's own queries; the rest joins the prefetch queue, where
        # concurrent requests' scenes share a query (a scan reads many small pages at once).
        shared = reserved[len(reserved) - len(reserved) % size:]
        if shared and self._enqueue(shared):
            del reserved[len(reserved) - len(shared):]
            elsewhere += [str(r.key) for r in shared]
        try:
            while reserved:
                _check(deadline)
                batch = reserved[:size]
                loaded = self._stash.scenes([str(r.key) for r in batch], deadline=deadline)
                del reserved[:size]
                for reservation in batch:
                    scene = loaded.get(str(reservation.key))
                    self.cache.fulfil(reservation, scene, None if scene is not None else self._miss_ttl)
                    if scene is not None:
                        found[scene.id] = scene
        finally:
            for reservation in reserved:  # not loaded: whoever waits for them loads them
                self.cache.abandon(reservation)
        for scene_id in elsewhere:
            scene = self.get(scene_id, deadline=deadline)
            if scene is not None:
                found[scene_id] = scene
        return found

    def _load(self, scene_id: str, deadline: Deadline) -> Scene | None:
        if self.batcher is None:
            return self._stash.scene(scene_id, deadline=deadline)
        return self.batcher.load(scene_id, deadline)

    def _enqueue(self, reservations: list[Reservation]) -> bool:
        """Hand reserved scenes to the prefetch thread; ``False`` when its queue is full."""
        with self._queue_changed:
            if self._closing or len(self._queue) + len(reservations) > MAX_PENDING_PREFETCH:
                return False
            self._queue.extend(reservations)
            if self._drainer is None:
                self._drainer = threading.Thread(target=self._drain, name="s2p-prefetch", daemon=True)
                self._drainer.start()
            self._queue_changed.notify()
        return True

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
            found = self._stash.scenes([str(r.key) for r in batch], deadline=Deadline(self._prefetch_budget))
        except StashError as exc:
            log.debug("prefetch of %d scene(s) failed: %s", len(batch), exc)
            for reservation in batch:
                self.cache.abandon(reservation)  # waiting requests load for themselves
            return
        self.prefetch_batches += 1
        for reservation in batch:
            scene = found.get(str(reservation.key))  # the keys are scene ids
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


def _check(deadline: Deadline) -> None:
    if deadline.expired:
        raise StashUnavailable("the request's time ran out before all its scenes were read")
