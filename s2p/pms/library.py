"""Reading Plex's libraries through plexapi: sections, items page by page,
and asking Plex to refresh one item.

Items are turned into plain ``PlexItem`` records page by page, so a 50,000
item library never sits in memory as plexapi objects.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

from s2p.config import PlexSettings
from s2p.pms.connect import PlexError, connect, translate_errors
from s2p.pms.models import PlexItem, PlexPart, PlexSection

log = logging.getLogger(__name__)

# Items per request to Plex: big enough to keep requests few, small enough
# that one page never takes long to build on the Plex side.
PAGE_SIZE = 500


class ItemGone(PlexError):
    """The item asked for is no longer in Plex."""


def _listed(available: Sequence[PlexSection], kind: str) -> str:
    return ", ".join(f"{s.title!r} (id {s.key}, agent {s.agent})" for s in available if s.type == kind) or "none"


def choose_sections(available: Sequence[PlexSection], wanted: Sequence[str],
                    identifier: str, tv_identifier: str | None = None) -> tuple[list[PlexSection], list[str]]:
    """The sections to compare, and problems a person should fix.

    ``wanted`` holds names or ids from ``[plex] sections``; empty means
    every movie section whose agent is s2p's identifier, and every TV
    section whose agent is the TV provider's (``tv_identifier``).
    """
    kinds = ("movie", "show") if tv_identifier else ("movie",)
    if not wanted:
        chosen = [s for s in available if (s.type == "movie" and s.agent == identifier)
                  or (tv_identifier is not None and s.type == "show" and s.agent == tv_identifier)]
        if chosen:
            return chosen, []
        problem = f"no movie library in Plex uses s2p's agent ({identifier})"
        listed = f"Plex's movie libraries: {_listed(available, 'movie')}"
        if tv_identifier is not None:
            problem += f", and no TV library the TV provider's ({tv_identifier})"
            listed += f"; its TV libraries: {_listed(available, 'show')}"
        return [], [f"{problem}; {listed}. Fix: set the library's agent to s2p's, or list the libraries "
                    "to compare in [plex] sections"]
    chosen = []
    problems = []
    for name in wanted:
        found = [s for s in available if s.key == name.strip()] or \
            [s for s in available if s.title == name] or \
            [s for s in available if s.title.casefold() == name.strip().casefold()]
        if not found:
            known = ", ".join(f"{s.title!r} (id {s.key})" for s in available)
            problems.append(f"[plex] sections: Plex has no library named or numbered {name!r} "
                            f"(it has {known or 'none'})")
            continue
        for section in found:
            if section.type not in kinds:
                problems.append(f"[plex] sections: {section.title!r} is a {section.type} library; "
                                "s2p compares movie" + (" and TV" if tv_identifier else "") + " libraries only")
            elif section not in chosen:
                chosen.append(section)
    return chosen, problems


class PlexLibrary:
    """One connection to Plex for one comparison (or one refresh batch)."""

    def __init__(self, settings: PlexSettings, state_dir: str | Path, *, page_size: int = PAGE_SIZE):
        self._settings = settings
        self._state_dir = state_dir
        self._page_size = page_size
        self._server: Any = None
        self._section_objects: dict[str, Any] = {}

    def _plex(self) -> Any:
        if self._server is None:
            self._server = connect(self._settings, self._state_dir)
        return self._server

    def machine_identifier(self) -> str | None:
        """Plex's own identifier, which it sends as X-Plex-Client-Identifier when it calls s2p."""
        return getattr(self._plex(), "machineIdentifier", None) or None

    def sections(self) -> list[PlexSection]:
        try:
            found = self._plex().library.sections()
        except Exception as exc:
            raise translate_errors(exc, "listing Plex's libraries") from None
        result = []
        for obj in found:
            section = PlexSection(str(obj.key), obj.title or "", tuple(obj.locations or ()), obj.agent or "",
                                  obj.type or "")
            self._section_objects[section.key] = obj
            result.append(section)
        return result

    def items(self, section: PlexSection) -> Iterator[list[PlexItem]]:
        """The section's movies (or a TV section's episodes), one page of plain records at a time."""
        libtype = "episode" if section.type == "show" else "movie"
        obj = self._section_objects.get(section.key)
        if obj is None:
            raise PlexError(f"section {section.key} was not listed first")
        start = 0
        while True:
            try:
                page = obj.search(libtype=libtype, container_start=start, container_size=self._page_size,
                                  maxresults=self._page_size)
            except Exception as exc:
                raise translate_errors(exc, f"reading library {section.title!r}") from None
            yield [_item(movie, section.key) for movie in page]
            if len(page) < self._page_size:
                return
            start += len(page)

    def refresh(self, rating_key: str) -> None:
        """Ask Plex to fetch the item's metadata again (from s2p)."""
        from plexapi.exceptions import NotFound

        try:
            self._plex().fetchItem(int(rating_key)).refresh()
        except NotFound:
            raise ItemGone(f"Plex no longer has item {rating_key}") from None
        except Exception as exc:
            raise translate_errors(exc, f"refreshing item {rating_key}") from None


def _item(movie: Any, section_key: str) -> PlexItem:
    # plexapi reloads a partial object (one request) when an attribute is
    # empty; a listing must never cost a request per item.
    movie._autoReload = False
    parts = tuple(PlexPart(part.file, part.size) for part in movie.iterParts() if part.file)
    return PlexItem(str(movie.ratingKey), movie.title or "", movie.guid or "", section_key, parts)
