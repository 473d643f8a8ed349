"""Images for the image route and for uploads: find the entity's Stash image,
fetch it, and shape it.

Only ids are accepted, never URLs: the Stash image URL always comes from
Stash's own answer about an entity that exists, and is fetched from the
configured Stash with the API key in a header.

Stash's stand-in pictures are never offered.  Performers, studios, tags and
groups without an image have ``default=true`` in their image URL.  A scene
without a cover has no such mark: its screenshot URL then answers with
Stash's default scene picture, an SVG (``scene/scene.svg``).  Real covers are
JPEG, PNG or WebP, and Plex does not display SVG artwork anyway, so any SVG
from Stash counts as "no image"; a scene without one gets its studio's (or
parent studio's) image as poster and no background.
"""

from __future__ import annotations

import functools
from typing import Callable, Hashable

from s2p.common.cache import TTLCache
from s2p.config import CacheSettings
from s2p.common.deadline import Deadline
from s2p.scenes.store import SceneStore
from s2p.stash.api import StashAPI
from s2p.stash.client import FetchedImage
from s2p.stash.errors import StashUnavailable
from s2p.stash.models import is_placeholder
from s2p.artwork.links import CoverMemory, known, poster_shape, studio_chain
from s2p.artwork.shape import PosterShaper


def is_stand_in(image: FetchedImage) -> bool:
    return image.content_type.startswith("image/svg")


# Bytes an image costs beyond its content (the object, its headers, the
# cache's entry): counted so that many tiny images cannot outgrow the budget.
ENTRY_OVERHEAD = 1024


class ImageService:
    def __init__(self, stash: StashAPI, scenes: SceneStore, settings: CacheSettings,
                 shaper: PosterShaper | None = None):
        # Scenes Stash has no cover for: their later answers offer no URL that would 404.
        self.covers = CoverMemory()
        self._stash = stash
        self._scenes = scenes
        self.shaper = shaper or PosterShaper()
        enabled = settings.enabled
        self._paths: TTLCache[str | None] = TTLCache(10000 if enabled else 0, settings.ttl)
        # Stash's bytes and shaped posters share one byte budget.
        self._bytes: TTLCache[FetchedImage | None] = TTLCache(
            settings.image_max_bytes if enabled else 0,
            settings.image_ttl,
            weigh=lambda image: len(image.content) + ENTRY_OVERHEAD if image else ENTRY_OVERHEAD,
        )

    def caches(self) -> dict[str, TTLCache]:
        """The caches, by name (for metrics and health)."""
        return {"image_paths": self._paths, "image_bytes": self._bytes}

    @staticmethod
    def known(kind: str, variant: str) -> bool:
        return known(kind, variant)

    @property
    def cache_stats(self) -> dict[str, int]:
        return self._bytes.stats.as_dict()

    def image(self, kind: str, entity_id: str, variant: str, *, deadline: Deadline) -> FetchedImage | None:
        """The image bytes, or ``None`` when there is no such entity or image."""
        if not known(kind, variant):
            return None
        if kind == "scene":
            return self._scene(entity_id, variant, deadline)
        stash_path = self._entity_path(kind, entity_id, variant, deadline)
        if stash_path is None:
            return None
        return self._fetch(stash_path, deadline)

    def from_path(self, stash_path: str, *, deadline: Deadline) -> FetchedImage | None:
        """The bytes behind an image path Stash gave (a versioned URL), when
        the caller holds the entity already: no second lookup, and no older
        path from the cache."""
        return None if is_placeholder(stash_path) else self._fetch(stash_path, deadline)

    # ------------------------------------------------------------ scenes

    def _scene(self, scene_id: str, variant: str, deadline: Deadline) -> FetchedImage | None:
        scene = self._scenes.get(scene_id, deadline=deadline)
        if scene is None:
            return None
        path = scene.paths.screenshot
        screenshot = self._fetch(path, deadline) if path else None
        if path and screenshot is None:
            self.covers.note(scene.id, path)
        if variant == "background":
            return screenshot
        if variant == "square":
            if screenshot is None:
                return None
            return self._cached((path, "square"), lambda: self.shaper.square(screenshot), deadline)
        shape, anchor = poster_shape(variant)
        if screenshot is not None:
            if shape == "original":
                return screenshot
            return self._cached((path, shape, anchor), lambda: self.shaper.poster(screenshot, shape, anchor),
                                deadline)
        for studio in studio_chain(scene.studio):
            if studio.image_path is None or is_placeholder(studio.image_path):
                continue
            logo = self._fetch(studio.image_path, deadline)
            if logo is not None:
                if shape == "original":
                    return logo
                return self._cached((studio.image_path, "logo", shape),
                                    functools.partial(self.shaper.logo_poster, logo, shape), deadline)
        return None

    # ------------------------------------------------------------ other entities

    def _entity_path(self, kind: str, entity_id: str, variant: str, deadline: Deadline) -> str | None:
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
            performer = self._stash.performer(entity_id, deadline=deadline)
            return performer.image_path if performer else None
        if kind == "studio":
            studio = self._stash.studio(entity_id, deadline=deadline)
            return studio.image_path if studio else None
        if kind == "tag":
            tag = self._stash.tag(entity_id, deadline=deadline)
            return tag.image_path if tag else None
        if kind == "group":
            group = self._stash.group(entity_id, deadline=deadline)
            if group is None:
                return None
            return group.front_image_path if variant == "front" else group.back_image_path
        return None

    # ------------------------------------------------------------ bytes

    def _fetch(self, stash_path: str, deadline: Deadline) -> FetchedImage | None:
        def load() -> FetchedImage | None:
            image = self._stash.client.fetch_image(stash_path, deadline=deadline)
            return None if image is None or is_stand_in(image) else image

        return self._cached(stash_path, load, deadline)

    def _cached(self, key: Hashable, load: Callable[[], FetchedImage | None],
                deadline: Deadline) -> FetchedImage | None:
        try:
            return self._bytes.get_or_load(key, load, wait=deadline.remaining())
        except TimeoutError:
            raise StashUnavailable("timed out waiting for Stash") from None
