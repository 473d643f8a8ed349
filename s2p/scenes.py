"""Full scenes by id: what metadata and image requests read.

Three layers keep Stash's load low during a scan: a TTL cache (a scene is
asked once per TTL), single-flight (concurrent requests for one scene share
one load) and batching (requests for different scenes arriving within a few
milliseconds share one ``findScenes(ids:)`` query).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from .batching import BatchLoader
from .cache import TTLCache
from .config import CacheSettings
from .deadline import Deadline
from .stash.api import StashAPI
from .stash.errors import StashError, StashUnavailable
from .stash.models import Scene

log = logging.getLogger("s2p.scenes")

# Prefetches waiting beyond this are dropped: they are an optimisation only.
MAX_PENDING_PREFETCH = 200


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
        self._prefetcher: ThreadPoolExecutor | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()

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

    def get_many(self, scene_ids: Sequence[str], *, deadline: Deadline) -> dict[str, Scene]:
        found: dict[str, Scene] = {}
        missing = []
        for scene_id in scene_ids:
            cached = self.cache.get(scene_id, default=...)
            if cached is ...:
                missing.append(scene_id)
            elif cached is not None:
                found[scene_id] = cached
        if missing:
            loaded = self._stash.scenes(missing, deadline=deadline)
            for scene_id in missing:
                scene = loaded.get(scene_id)
                self.cache.put(scene_id, scene, None if scene is not None else self._miss_ttl)
                if scene is not None:
                    found[scene_id] = scene
        return found

    def prefetch(self, scene_id: str) -> None:
        """Load a scene in the background (Plex asks for its metadata right
        after a match).  Never blocks; dropped when too many are waiting."""
        if not self._enabled or self.cache.get(scene_id, default=...) is not ...:
            return
        with self._pending_lock:
            if self._pending >= MAX_PENDING_PREFETCH:
                return
            self._pending += 1
            if self._prefetcher is None:
                self._prefetcher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="s2p-prefetch")
        self._prefetcher.submit(self._prefetch, scene_id)

    def _prefetch(self, scene_id: str) -> None:
        try:
            self.get(scene_id, deadline=Deadline(self._prefetch_budget))
        except StashError as exc:
            log.debug("prefetch of scene %s failed: %s", scene_id, exc)
        finally:
            with self._pending_lock:
                self._pending -= 1

    @property
    def pending_prefetches(self) -> int:
        with self._pending_lock:
            return self._pending

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=False, cancel_futures=True)

    def forget(self, scene_id: str) -> None:
        self.cache.invalidate(scene_id)
