"""The TV tree: studio -> show, year -> season, scene -> episode.  Pure.

ratingKeys name their kind and carry only ids and a year, never a title, so
they are free of ``/`` and cannot collide across kinds:

- ``show-12`` (studio 12), ``show-none`` (scenes without a studio);
- ``season-12-2023``, ``season-12-0`` (scenes without a date);
- ``episode-345`` (scene 345: an episode keeps its key when its scene
  moves to another studio or date).

Episode numbers are stable: adding a scene never renumbers the episodes
Plex already has.

- A dated scene's number is its month and day followed by its place among
  that show's scenes of the same day, by scene id: 2023-05-12 gives
  ``51201`` (read "05-12, first").  Stash gives new scenes higher ids, so
  a scene added later comes after the ones of its day already numbered.
  A partial date counts as its first day (``[provider] partial_dates =
  "first_day"``: "2022" is 2022-01-01, "2021-07" is 2021-07-01); with
  ``"year_only"`` a year-only scene has no day and numbers 1, 2, ... before
  the year's dated scenes.
- A scene without a date is in season 0 (Plex lists it apart as
  "Specials": such a scene has no place in a year) and its number is its
  scene id, which never changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from s2p.plex.contract import is_stash_id
from s2p.stash.models import SceneSummary, release, title_of

SHOW, SEASON, EPISODE = 2, 3, 4
KIND_NAMES = {SHOW: "show", SEASON: "season", EPISODE: "episode"}
NO_STUDIO = "none"
UNDATED = 0
# Places within one day: beyond this a day's scenes would reach into the next day's numbers.
PER_DAY = 100

_KEY = re.compile(r"(?:show-(?P<show>[0-9]{1,10}|none)"
                  r"|season-(?P<season_show>[0-9]{1,10}|none)-(?P<season>[0-9]{1,4})"
                  r"|episode-(?P<episode>[0-9]{1,10}))")


@dataclass(frozen=True)
class Key:
    kind: int
    show: str | None = None  # a studio id or NO_STUDIO (show and season keys)
    season: int | None = None
    scene: str | None = None  # episode keys


def parse_key(rating_key: str) -> Key | None:
    m = _KEY.fullmatch(rating_key)
    if m is None:
        return None
    # A studio or scene id Stash cannot hold names nothing: not found, without asking.
    if any(m.group(g) and m.group(g) != NO_STUDIO and not is_stash_id(m.group(g))
           for g in ("show", "season_show", "episode")):
        return None
    if m.group("show"):
        return Key(SHOW, show=m.group("show"))
    if m.group("season_show"):
        return Key(SEASON, show=m.group("season_show"), season=int(m.group("season")))
    return Key(EPISODE, scene=m.group("episode"))


def show_key(show_id: str) -> str:
    return f"show-{show_id}"


def season_key(show_id: str, season: int) -> str:
    return f"season-{show_id}-{season}"


def episode_key(scene_id: str) -> str:
    return f"episode-{scene_id}"


def guid(identifier: str, kind: int, rating_key: str) -> str:
    return f"{identifier}://{KIND_NAMES[kind]}/{rating_key}"


def key_from_guid(identifier: str, value: str | None) -> Key | None:
    """The key in one of the TV provider's own guids (of any kind)."""
    if not value or not value.startswith(f"{identifier}://"):
        return None
    kind, _, rest = value[len(identifier) + 3:].partition("/")
    found = parse_key(rest.split("?", 1)[0])
    return found if found is not None and KIND_NAMES[found.kind] == kind else None


def plain_key(rating_key: str) -> str:
    return f"/library/metadata/{rating_key}"


def metadata_key(rating_key: str, kind: int) -> str:
    """Shows and seasons point at their children, as Plex's example provider does."""
    return plain_key(rating_key) if kind == EPISODE else f"{plain_key(rating_key)}/children"


@dataclass(frozen=True)
class Episode:
    scene: SceneSummary
    season: int
    index: int
    released: str | None  # YYYY-MM-DD (or None)

    @property
    def title(self) -> str:
        return title_of(self.scene)


@dataclass(frozen=True)
class Season:
    index: int
    episodes: tuple[Episode, ...]

    @property
    def title(self) -> str:
        return str(self.index) if self.index != UNDATED else "Undated"

    @property
    def first_released(self) -> str | None:
        return next((e.released for e in self.episodes if e.released), None)

    @property
    def newest(self) -> Episode | None:
        """The latest episode: its screenshot is the season's background."""
        return self.episodes[-1] if self.episodes else None


@dataclass(frozen=True)
class Listing:
    """A show's scenes as seasons and episodes, in Plex's order.

    Built once per show and kept (``Catalog``); every episode request looks
    up its scene here, so the lookups are by map, not by a walk."""

    seasons: tuple[Season, ...]
    episodes: tuple[Episode, ...] = field(init=False)
    _by_scene: dict[str, Episode] = field(init=False, repr=False, compare=False)
    _by_index: dict[int, Season] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        episodes = tuple(e for s in self.seasons for e in s.episodes)
        object.__setattr__(self, "episodes", episodes)
        object.__setattr__(self, "_by_scene", {e.scene.id: e for e in episodes})
        object.__setattr__(self, "_by_index", {s.index: s for s in self.seasons})

    @property
    def newest(self) -> Episode | None:
        """The latest dated episode (else the last undated one): its screenshot
        is the show's background, so a show's page opens on what is new."""
        dated = [s for s in self.seasons if s.index != UNDATED and s.episodes]
        season = dated[-1] if dated else next((s for s in self.seasons if s.episodes), None)
        return season.newest if season is not None else None

    def season(self, index: int) -> Season | None:
        return self._by_index.get(index)

    def episode(self, scene_id: str) -> Episode | None:
        return self._by_scene.get(scene_id)


def _scene_order(scene: SceneSummary) -> tuple[int, str]:
    return (int(scene.id), "") if scene.id.isdigit() else (0, scene.id)


def listing(scenes: Iterable[SceneSummary], partial_dates: str = "first_day") -> Listing:
    """Seasons by year (undated last, as season 0), episodes numbered stably."""
    by_day: dict[tuple[int, int], list[tuple[SceneSummary, str | None]]] = {}
    undated: list[SceneSummary] = []
    for scene in sorted(scenes, key=_scene_order):
        released, year = release(scene.date, partial_dates)
        if not year:
            undated.append(scene)
            continue
        month_day = int(released[5:7]) * 100 + int(released[8:10]) if released else 0
        by_day.setdefault((year, month_day), []).append((scene, released))
    seasons: dict[int, list[Episode]] = {}
    for (year, month_day), day in sorted(by_day.items()):
        for place, (scene, released) in enumerate(day, start=1):
            seasons.setdefault(year, []).append(Episode(scene, year, month_day * PER_DAY + place, released))
    if undated:
        seasons[UNDATED] = [Episode(s, UNDATED, int(s.id) if s.id.isdigit() else 0, None) for s in undated]
    ordered = sorted(seasons.items(), key=lambda item: (item[0] == UNDATED, item[0]))
    return Listing(tuple(Season(index, tuple(sorted(eps, key=lambda e: e.index))) for index, eps in ordered))


@dataclass(frozen=True)
class Page:
    items: list
    offset: int
    total: int


# Plex's documentation: without paging values, the first 20.
DEFAULT_PAGE = 20


def page(items: Sequence, start: int, size: int | None) -> Page:
    """One page of a listing.  ``start`` counts from 0, as Plex's own
    ``X-Plex-Container-Start`` does across its API (docs/tv.md says why)."""
    size = DEFAULT_PAGE if size is None else size
    start = max(0, start)
    return Page(list(items[start:start + size]), start, len(items))
