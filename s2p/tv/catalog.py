"""``Catalog``: the shows Stash's studios make, and each show's seasons and
episodes, read from Stash and kept a short while.

Two kinds of Stash read, both small: every studio at once (names, parents,
images: what a show is), and a show's scenes (ids, titles, dates, file
names: what its seasons and episodes are).  A full scan of a TV library
asks for each show once; the full metadata of an episode comes through the
scene store, batched, as a movie's does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Hashable, TypeVar

from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.config import CacheSettings, TvSettings
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashUnavailable
from s2p.stash.models import Listed, Studio, StudioRef
from s2p.tv import tree
from s2p.tv.tree import NO_STUDIO, Listing

# Listings kept: one per show; a show's listing is ~100 bytes a scene.
LISTINGS_KEPT = 2000
# How long the studio directory and listings are kept when the cache is off
# (a scan walks a show's seasons within seconds; coalescing still applies).
MIN_TTL = 0.0
MAX_DEPTH = 10  # parent chains are cut here (and at cycles)
Loaded = TypeVar("Loaded")


@dataclass(frozen=True)
class Show:
    id: str  # a studio id, or NO_STUDIO
    title: str
    studio: Studio | None  # None: the show of scenes without a studio
    parent: Studio | None = None  # the studio's own parent, shown as such

    @property
    def rating_key(self) -> str:
        return tree.show_key(self.id)

    def poster_studios(self) -> list[StudioRef]:
        """The studios whose picture may be the show's poster, the first with
        one wins: its own, then its parent's."""
        return [s.ref() for s in (self.studio, self.parent) if s is not None]


class Catalog:
    def __init__(self, stash: StashAPI, settings: TvSettings, cache: CacheSettings, *,
                 partial_dates: str = "first_day"):
        self._stash = stash
        self.settings = settings
        self._partial_dates = partial_dates
        ttl = cache.ttl if cache.enabled else MIN_TTL
        self._directory: TTLCache[dict[str, Studio]] = TTLCache(1 if cache.enabled else 0, ttl)
        self._listings: TTLCache[Listing] = TTLCache(LISTINGS_KEPT if cache.enabled else 0, ttl)
        self._lock = threading.Lock()
        self.listing_loads = 0

    # ------------------------------------------------------------ shows

    def studios(self, deadline: Deadline) -> dict[str, Studio]:
        return _load(self._directory, "studios",
                     lambda: {s.id: s for s in self._stash.studios(deadline=deadline)}, deadline)

    def show_id_of(self, studio_id: str | None, deadline: Deadline) -> str:
        """The show a scene of this studio belongs to."""
        if not studio_id:
            return NO_STUDIO
        if self.settings.show == "studio":
            return studio_id
        return self._top(studio_id, self.studios(deadline))

    def show(self, show_id: str, deadline: Deadline) -> Show | None:
        if show_id == NO_STUDIO:
            return self._studioless()
        studios = self.studios(deadline)
        studio = studios.get(show_id)
        if studio is None or (self.settings.show == "top_parent" and self._top(show_id, studios) != show_id):
            return None  # unknown, or a sub-studio whose scenes are in its top parent's show
        parent = studios.get(studio.parent_studio.id) if studio.parent_studio else None
        return Show(studio.id, studio.name, studio, parent)

    def shows(self, deadline: Deadline) -> list[Show]:
        """Every show, the studio-less one last."""
        studios = self.studios(deadline)
        found = [self.show(sid, deadline) for sid in studios]
        return [s for s in found if s is not None] + [self._studioless()]

    def _studioless(self) -> Show:
        return Show(NO_STUDIO, self.settings.no_studio, None)

    def _top(self, studio_id: str, studios: dict[str, Studio]) -> str:
        seen = {studio_id}
        current = studios.get(studio_id)
        while current is not None and current.parent_studio is not None and len(seen) < MAX_DEPTH:
            parent_id = current.parent_studio.id
            if parent_id in seen or parent_id not in studios:
                break
            seen.add(parent_id)
            current = studios[parent_id]
        return current.id if current is not None else studio_id

    def _members(self, show_id: str, deadline: Deadline) -> list[str]:
        """The studios whose scenes a show holds."""
        if self.settings.show == "studio":
            return [show_id]
        studios = self.studios(deadline)
        return [sid for sid in studios if self._top(sid, studios) == show_id]

    # ------------------------------------------------------------ seasons and episodes

    def listing(self, show: Show, deadline: Deadline) -> Listing:
        def load() -> Listing:
            members = None if show.id == NO_STUDIO else self._members(show.id, deadline)
            scenes: list[Listed] = self._stash.studio_scenes(members, deadline=deadline)
            with self._lock:
                self.listing_loads += 1
            return tree.listing(scenes, self._partial_dates)

        return _load(self._listings, show.id, load, deadline)

    def forget(self) -> None:
        """Stash changed: read studios and listings afresh."""
        self._directory.clear()
        self._listings.clear()

    def caches(self) -> dict[str, TTLCache]:
        return {"tv_directory": self._directory, "tv_listings": self._listings}


def _load(cache: TTLCache[Loaded], key: Hashable, loader: Callable[[], Loaded], deadline: Deadline) -> Loaded:
    try:
        return cache.get_or_load(key, loader, wait=deadline.remaining())
    except TimeoutError:
        raise StashUnavailable("timed out waiting for Stash") from None
