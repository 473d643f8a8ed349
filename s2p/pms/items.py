"""Finding the Plex items that carry one of our guids.

plexapi's ``getGuid`` only knows Plex's own agents, so s2p asks each library
section directly: ``/library/sections/{key}/all?guid=<guid>``.  PMS filters
its main guid this way for its own agents; whether it does so for a custom
provider's guid has not been checked against a real PMS, so every answer is
verified (each returned item must carry exactly that guid).  A section whose
answer shows the filter was ignored, or that has not yet shown it works,
falls back to a guid -> ratingKey map built by paging through the section,
rebuilt at most every few minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from s2p.pms.connect import list_sections

log = logging.getLogger(__name__)

PAGE = 500
PROBE = 20
MOVIE, SHOW, EPISODE = 1, 2, 4  # Plex's types, as the section filter takes them


def _kind(guid: str) -> int:
    """The Plex type of the items carrying one of our guids."""
    if "://episode/" in guid:
        return EPISODE
    return SHOW if "://show/" in guid else MOVIE


class PlexItems:
    def __init__(self, plex: Any, identifier: str, sections: list[str] | None = None, *,
                 rescan_after: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 tv_identifier: str | None = None):
        self._plex = plex
        self._identifier = identifier
        # The TV provider's: its episodes are looked for in TV sections on its agent.
        self._tv_identifier = tv_identifier
        self._wanted = [s.strip() for s in sections or [] if s.strip()]
        self._rescan_after = rescan_after
        self._clock = clock
        self._lock = threading.Lock()
        self._sections: list[Any] | None = None
        # section key -> True (the guid filter works), False (ignored), None (not known yet)
        self._filter_works: dict[str, bool | None] = {}
        # (section key, Plex type) -> (when built, guid -> ratingKeys)
        self._maps: dict[tuple[str, int], tuple[float, dict[str, list[int]]]] = {}

    @property
    def machine_identifier(self) -> str | None:
        """The server's machineIdentifier (Plex Web's links name the server by it)."""
        return getattr(self._plex, "machineIdentifier", None)

    def sections(self) -> list[Any]:
        """The movie sections to look in: the configured ones, else those on
        s2p's agent, else every movie section."""
        if self._sections is None:
            listed = list_sections(self._plex)
            movies = [s for s in listed if getattr(s, "type", "") == "movie"]
            if self._wanted:
                chosen = [s for s in movies if s.title in self._wanted or str(s.key) in self._wanted]
                missing = set(self._wanted) - {s.title for s in chosen} - {str(s.key) for s in chosen}
                if missing:
                    log.warning("[plex] sections names sections Plex does not have: %s", ", ".join(sorted(missing)))
            else:
                chosen = [s for s in movies if getattr(s, "agent", "") == self._identifier] or movies
            if self._tv_identifier:
                shows = [s for s in listed if getattr(s, "type", "") == "show"]
                chosen += [s for s in shows if getattr(s, "agent", "") == self._tv_identifier
                           or s.title in self._wanted or str(s.key) in self._wanted]
            self._sections = chosen
        return self._sections

    def find_scene(self, scene_id: str) -> list[Any]:
        """Every Plex item of a scene: movies with the movie provider's guid,
        and (with the TV provider) episodes with the TV provider's."""
        found = self.find(f"{self._identifier}://movie/{scene_id}")
        if self._tv_identifier:
            found += self.find(f"{self._tv_identifier}://episode/episode-{scene_id}")
        return found

    def find_show(self, show_id: str, *, seasons: bool = True) -> list[Any]:
        """A TV show's Plex items (shows with the TV provider's guid) and, with
        ``seasons``, the seasons inside them, whatever guids Plex gave those."""
        if not self._tv_identifier:
            return []
        shows = self.find(f"{self._tv_identifier}://show/show-{show_id}")
        return shows + [season for show in shows for season in show.seasons()] if seasons else shows

    def find(self, guid: str) -> list[Any]:
        """Every Plex item (plexapi objects) whose guid is ``guid``."""
        found: list[Any] = []
        kind = _kind(guid)
        for section in self.sections():
            if (getattr(section, "type", "") == "show") != (kind != MOVIE):
                continue  # movies live in movie sections, shows and episodes in TV sections
            key = str(section.key)
            items = self._by_filter(key, kind, guid) if self._filter_works.get(key) is not False else None
            if items is None or (not items and self._filter_works.get(key) is None):
                keys = self._by_scan(key, kind, guid)
                if keys and items is not None:
                    # The filter answered nothing for an item that exists: it does not work here.
                    self._filter_works[key] = False
                items = [self._plex.fetchItem(rating_key) for rating_key in keys]
            found.extend(items)
        return found

    def _by_filter(self, key: str, kind: int, guid: str) -> list[Any] | None:
        items = self._plex.fetchItems(f"/library/sections/{key}/all", params={"type": kind, "guid": guid},
                                      container_start=0, container_size=PROBE, maxresults=PROBE)
        exact = [item for item in items if getattr(item, "guid", None) == guid]
        if len(exact) != len(items):
            if self._filter_works.get(key) is not False:
                log.info("Plex section %s ignores the guid filter: finding items by listing the section", key)
            self._filter_works[key] = False
            return None
        if exact:
            self._filter_works[key] = True
        return exact

    def _by_scan(self, key: str, kind: int, guid: str) -> list[int]:
        with self._lock:
            built, mapping = self._maps.get((key, kind), (None, {}))
            if guid not in mapping and (built is None or self._clock() - built >= self._rescan_after):
                mapping = self._scan(key, kind)
                self._maps[(key, kind)] = (self._clock(), mapping)
            return list(mapping.get(guid, []))

    def _scan(self, key: str, kind: int) -> dict[str, list[int]]:
        mapping: dict[str, list[int]] = {}
        start = 0
        prefixes = tuple(f"{i}://" for i in (self._identifier, self._tv_identifier) if i)
        while True:
            page = self._plex.fetchItems(f"/library/sections/{key}/all", params={"type": kind},
                                         container_start=start, container_size=PAGE, maxresults=PAGE)
            for item in page:
                item_guid = getattr(item, "guid", None) or ""
                if item_guid.startswith(prefixes):
                    mapping.setdefault(item_guid, []).append(int(item.ratingKey))
            if len(page) < PAGE:
                return mapping
            start += PAGE
