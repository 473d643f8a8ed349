"""What s2p reads of a Plex Media Server's library, as plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlexPart:
    file: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class PlexItem:
    rating_key: str
    title: str
    guid: str
    section: str  # the section's key
    parts: tuple[PlexPart, ...] = ()


@dataclass(frozen=True, slots=True)
class PlexSection:
    key: str
    title: str
    locations: tuple[str, ...] = ()
    agent: str = ""
    type: str = "movie"
