"""Image URLs for Plex: absolute, on s2p's own image route, never Stash's.

The URL names an entity and a variant, never a Stash URL, so the route can
only serve images of entities that exist.  ``v`` changes when the image does,
so Plex fetches the new one.
"""

from __future__ import annotations

import hashlib

from ..stash.models import GroupRef, PerformerRef, Scene, SceneSummary, StudioRef, image_version, is_placeholder

SCENE_VARIANTS = ("poster", "background")


def _version(value: str | None) -> str:
    return hashlib.sha1((value or "").encode()).hexdigest()[:10]


class RouteImageLinks:
    """Builds ``<base>/images/<kind>/<id>/<variant>?v=...`` URLs."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def url(self, kind: str, entity_id: str, variant: str, version: str | None) -> str:
        return f"{self.base}/images/{kind}/{entity_id}/{variant}?v={_version(version)}"

    def scene(self, scene: SceneSummary, variant: str) -> str | None:
        if variant not in SCENE_VARIANTS:
            return None
        if isinstance(scene, Scene) and not scene.paths.screenshot:
            return None
        return self.url("scene", scene.id, variant, scene.updated_at)

    def performer(self, performer: PerformerRef) -> str | None:
        if is_placeholder(performer.image_path):
            return None
        return self.url("performer", performer.id, "image", image_version(performer.image_path))

    def studio(self, studio: StudioRef) -> str | None:
        if is_placeholder(studio.image_path):
            return None
        return self.url("studio", studio.id, "image", image_version(studio.image_path))

    def group(self, group: GroupRef) -> str | None:
        if is_placeholder(group.front_image_path):
            return None
        return self.url("group", group.id, "front", image_version(group.front_image_path))
