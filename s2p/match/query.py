"""What a match asks, in the match core's own terms.

Built at the edge (the web routes from Plex's request, ``s2p match`` from
its options); the cascade and the TV provider read nothing else.  Frozen
and hashable: a query is its own cache key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OwnGuid:
    """One of s2p's own guids, decoded: ``kind`` (movie, show, season,
    episode) and the ratingKey it names."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class MatchQuery:
    kind: int | None = None  # Plex's metadata type (1 movie, 2 show, 3 season, 4 episode)
    filename: str | None = None
    title: str | None = None
    year: int | None = None
    ohash: str | None = None
    manual: bool = False  # Fix Match: list every candidate
    guid: str | None = None  # as Plex sent it (explanations, gap records)
    own: OwnGuid | None = None  # the guid, when it is one of s2p's own
    # TV: the show a match names, the episode's numbers and air date, and
    # s2p's own keys of the show and season Plex says the item is in.
    show_title: str | None = None
    index: int | None = None
    parent_index: int | None = None
    date: str | None = None  # YYYY-MM-DD
    show_key: str | None = None
    season_key: str | None = None
    include_children: bool = False
    # Who asked (X-Plex-Client-Identifier): whether a request came from Plex, for the gap report.
    client_identifier: str | None = None

    @property
    def has_anything(self) -> bool:
        """Something a file or a title can be matched by."""
        return any((self.guid, self.filename, self.title, self.ohash))

    @property
    def hint(self) -> str:
        """A few words naming what was asked, for logs."""
        return self.filename or self.title or self.show_title or self.guid or "-"

    def as_dict(self) -> dict[str, Any]:
        """The values given, for explanations."""
        values = {name: value for name, value in asdict(self).items() if value not in (None, False)}
        if self.own is not None:
            values["own"] = f"{self.own.kind}/{self.own.key}"
        return values
