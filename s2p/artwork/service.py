"""Images for the image route: find the entity's Stash image and fetch it.

Only ids are accepted, never URLs: the Stash image URL always comes from
Stash's own answer about an entity that exists, and is fetched from the
configured Stash with the API key in a header.
"""

from __future__ import annotations

from ..cache import TTLCache
from ..config import CacheSettings
from ..deadline import Deadline
from ..scenes import SceneStore
from ..stash.api import StashAPI
from ..stash.client import FetchedImage
from ..stash.errors import StashUnavailable
from ..stash.models import is_placeholder

VARIANTS = {
    "scene": ("poster", "background"),
    "performer": ("image",),
    "studio": ("image",),
    "tag": ("image",),
    "group": ("front", "back"),
}


class ImageService:
    def __init__(self, stash: StashAPI, scenes: SceneStore, settings: CacheSettings):
        self._stash = stash
        self._scenes = scenes
        enabled = settings.enabled
        self._paths: TTLCache[str | None] = TTLCache(10000 if enabled else 0, settings.ttl)
        self._bytes: TTLCache[FetchedImage | None] = TTLCache(
            settings.image_max_bytes if enabled else 0,
            settings.image_ttl,
            weigh=lambda image: len(image.content) if image else 1,
        )

    def caches(self) -> dict[str, TTLCache]:
        """The caches, by name (for metrics and health)."""
        return {"image_paths": self._paths, "image_bytes": self._bytes}

    @staticmethod
    def known(kind: str, variant: str) -> bool:
        return variant in VARIANTS.get(kind, ())

    def image(self, kind: str, entity_id: str, variant: str, *, deadline: Deadline) -> FetchedImage | None:
        """The image bytes, or ``None`` when there is no such entity or image."""
        stash_path = self._stash_path(kind, entity_id, variant, deadline)
        if stash_path is None:
            return None
        try:
            return self._bytes.get_or_load(
                stash_path,
                lambda: self._stash.client.fetch_image(stash_path, deadline=deadline),
                wait=deadline.remaining(),
            )
        except TimeoutError:
            raise StashUnavailable("timed out waiting for Stash") from None

    def _stash_path(self, kind: str, entity_id: str, variant: str, deadline: Deadline) -> str | None:
        if kind == "scene":
            scene = self._scenes.get(entity_id, deadline=deadline)
            return scene.paths.screenshot if scene is not None else None
        try:
            path = self._paths.get_or_load(
                (kind, entity_id, variant),
                lambda: self._lookup(kind, entity_id, variant, deadline),
                wait=deadline.remaining(),
            )
        except TimeoutError:
            raise StashUnavailable("timed out waiting for Stash") from None
        return None if is_placeholder(path) else path

    def _lookup(self, kind: str, entity_id: str, variant: str, deadline: Deadline) -> str | None:
        if kind == "performer":
            found = self._stash.performer(entity_id, deadline=deadline)
            return found.image_path if found else None
        if kind == "studio":
            found = self._stash.studio(entity_id, deadline=deadline)
            return found.image_path if found else None
        if kind == "tag":
            found = self._stash.tag(entity_id, deadline=deadline)
            return found.image_path if found else None
        if kind == "group":
            found = self._stash.group(entity_id, deadline=deadline)
            if found is None:
                return None
            return found.front_image_path if variant == "front" else found.back_image_path
        return None
