"""``MetadataService``: scene id in, the bytes of Plex's metadata answer out."""

from __future__ import annotations

import json
from collections.abc import Callable

from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.config import CacheSettings
from s2p.plex import contract, translate
from s2p.plex.translate import ImageLinks, TranslateOptions
from s2p.scenes.store import SceneStore
from s2p.stash.models import Scene

# Rendered metadata answers kept: a few KB each, and each holds its Scene
# (about 4.5 KB), so no more than the scene cache keeps by default.
RENDERED_ANSWERS = 2000


class MetadataService:
    """Loads scenes and renders them; tells ``served`` observers what Plex read."""

    def __init__(self, scenes: SceneStore, options: TranslateOptions, cache: CacheSettings,
                 served: list[Callable[[str], None]] | None = None):
        self._scenes = scenes
        self.options = options
        self._served = served if served is not None else []
        # The rendered answer, kept with the very Scene object it came from:
        # when the scene cache loads a newer scene, the answer is rendered anew.
        self._rendered: TTLCache[tuple[object, bool, bytes]] = TTLCache(
            RENDERED_ANSWERS if cache.enabled else 0, cache.ttl)

    @property
    def identifier(self) -> str:
        return self.options.identifier

    def scene(self, scene_id: str, deadline: Deadline) -> Scene | None:
        """The scene, or ``None`` when Stash has none; ``StashError`` when Stash cannot say."""
        return self._scenes.get(scene_id, deadline=deadline)

    def rendered(self, scene: Scene, links: ImageLinks, *, served: bool = True) -> bytes:
        """The JSON body of ``GET /library/metadata/{id}`` for this scene
        (``served``: Plex reads it, so the observers are told)."""
        key = (scene.id, links.base)
        # Learning that Stash has no cover changes the answer too (no URL that would 404).
        coverless = links.known_without_cover(scene)
        kept = self._rendered.get(key)
        if kept is not None and kept[0] is scene and kept[1] == coverless:
            body = kept[2]
        else:
            body = json.dumps(contract.container(self.identifier, [translate.metadata(scene, self.options, links)]),
                              ensure_ascii=False).encode()
            self._rendered.put(key, (scene, coverless, body))
        if served:
            for observe in self._served:
                observe(scene.id)
        return body

    def images(self, scene: Scene, links: ImageLinks) -> dict:
        """The answer of ``GET /library/metadata/{id}/images``."""
        return contract.container(self.identifier, translate.images(scene, links), element="Image")

    def caches(self) -> dict[str, TTLCache]:
        return {"rendered": self._rendered}
