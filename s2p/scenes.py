"""Full scenes by id, through the cache: what metadata requests read."""

from __future__ import annotations

from typing import Sequence

from .cache import TTLCache
from .config import CacheSettings
from .deadline import Deadline
from .stash.api import StashAPI
from .stash.errors import StashUnavailable
from .stash.models import Scene


class SceneStore:
    def __init__(self, stash: StashAPI, settings: CacheSettings):
        self._stash = stash
        self._miss_ttl = settings.miss_ttl
        size = settings.max_entries if settings.enabled else 0
        self.cache: TTLCache[Scene | None] = TTLCache(size, settings.ttl)

    def get(self, scene_id: str, *, deadline: Deadline) -> Scene | None:
        """The scene, or ``None`` when Stash has no scene with this id."""
        try:
            return self.cache.get_or_load(
                scene_id,
                lambda: self._stash.scene(scene_id, deadline=deadline),
                ttl_for=lambda scene: None if scene is not None else self._miss_ttl,
                wait=deadline.remaining(),
            )
        except TimeoutError:
            raise StashUnavailable("timed out waiting for Stash") from None

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

    def forget(self, scene_id: str) -> None:
        self.cache.invalidate(scene_id)
