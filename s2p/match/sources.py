"""Where the cascade finds scenes: two ``SceneSource``s side by side.

``StashSource`` asks Stash for every lookup (used before an index exists,
and by ``IndexSource`` for what the index cannot know).  ``IndexSource``
answers path and fingerprint lookups from memory.  Stash is asked
only where the index cannot know the answer yet:

- before the first load has finished (every lookup goes to Stash);
- a file name or fingerprint the index has never seen: the file may have
  been added to Stash after the last refresh (Stash and Plex often scan a
  new file within minutes of each other).  One Stash query answers it, a
  miss is remembered until the next refresh is due, and a hit asks the
  index to refresh now;
- a guid naming a scene the index lacks (a scene created since the last
  refresh);
- title searches, which are Stash's ``q`` search.
"""

from __future__ import annotations

import unicodedata
from typing import Callable

from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.scenes.index import SceneIndex, summary
from s2p.scenes.store import SceneStore
from s2p.stash.api import StashAPI
from s2p.stash.models import SceneSummary

MISS_MEMORY = 10_000


class StashSource:
    """Every lookup is a Stash query (used until the index is loaded, or without one)."""

    def __init__(self, stash: StashAPI, scenes: SceneStore):
        self._stash = stash
        self._scenes = scenes

    def describe(self) -> str:
        return "Stash queries"

    def scene(self, scene_id: str, deadline: Deadline) -> SceneSummary | None:
        return self._scenes.get(scene_id, deadline=deadline)

    def with_basename(self, basename: str, deadline: Deadline) -> list[SceneSummary]:
        found = {s.id: s for s in self._stash.with_basename(basename, deadline=deadline)}
        # Stash compares bytes: a name stored in NFD (copied from a Mac) is
        # found only by its NFD spelling.
        decomposed = unicodedata.normalize("NFD", basename)
        if decomposed != basename:
            for scene in self._stash.with_basename(decomposed, deadline=deadline):
                found.setdefault(scene.id, scene)
        return list(found.values())

    def with_plex_path(self, plex_path: str, deadline: Deadline) -> list[SceneSummary]:
        return []  # Stash knows only its own paths; the translated path is looked up by name

    def with_fingerprint(self, kind: str, value: str, deadline: Deadline) -> list[SceneSummary]:
        # findScenes rather than findSceneByHash: that one returns only the
        # first scene when a file belongs to several.
        field_name = {"oshash": "oshash", "md5": "checksum"}[kind]
        return self._stash.summaries(
            scene_filter={field_name: {"value": value, "modifier": "EQUALS"}}, per_page=20, deadline=deadline
        )

    def search(self, text: str, deadline: Deadline) -> list[SceneSummary]:
        return self._stash.search(text, deadline=deadline)


class IndexSource:
    def __init__(self, index: SceneIndex, stash: StashSource, *, miss_ttl: float,
                 on_stale: Callable[[], None] | None = None):
        self._index = index
        self._stash = stash
        self._on_stale = on_stale or (lambda: None)
        self._misses: TTLCache[bool] = TTLCache(MISS_MEMORY if miss_ttl > 0 else 0, miss_ttl)

    def describe(self) -> str:
        snap = self._index.snapshot()
        if snap is None:
            return "Stash queries (the scene index is still loading)"
        age = self._index.stats()["age_seconds"]
        caught_up = f", caught up {age:.0f}s ago" if age is not None else ""
        return f"scene index ({len(snap.scenes)} scenes{caught_up})"

    def scene(self, scene_id: str, deadline: Deadline) -> SceneSummary | None:
        snap = self._index.snapshot()
        if snap is not None:
            record = snap.scene(scene_id)
            if record is not None:
                return summary(record)
        return self._stash.scene(scene_id, deadline)

    def with_basename(self, basename: str, deadline: Deadline) -> list[SceneSummary]:
        snap = self._index.snapshot()
        if snap is None:
            return self._stash.with_basename(basename, deadline)
        found = snap.named(basename)
        if found:
            return [summary(s) for s in found]
        return self._ask_stash(("name", basename), lambda: self._stash.with_basename(basename, deadline))

    def with_plex_path(self, plex_path: str, deadline: Deadline) -> list[SceneSummary]:
        snap = self._index.snapshot()
        if snap is None:
            return self._stash.with_plex_path(plex_path, deadline)
        return [summary(s) for s in snap.with_plex_path(plex_path)]

    def with_fingerprint(self, kind: str, value: str, deadline: Deadline) -> list[SceneSummary]:
        snap = self._index.snapshot()
        if snap is None:
            return self._stash.with_fingerprint(kind, value, deadline)
        found = snap.with_hash(kind, value)
        if found:
            return [summary(s) for s in found]
        return self._ask_stash((kind, value.lower()),
                               lambda: self._stash.with_fingerprint(kind, value, deadline))

    def search(self, text: str, deadline: Deadline) -> list[SceneSummary]:
        return self._stash.search(text, deadline)

    def _ask_stash(self, key: tuple[str, str], ask: Callable[[], list[SceneSummary]]) -> list[SceneSummary]:
        if self._misses.get(key):
            return []
        self._index.fallbacks += 1
        found = ask()
        if found:
            self._on_stale()  # Stash knows more than the index: catch up now
        else:
            self._misses.put(key, True)
        return found
