"""File names Plex's TV scanner takes, in s2p's own numbers.  Pure.

Plex's *TV Series* scanner adds only files named like episodes; a file it
skips never reaches s2p.  A date in the name is not enough for every scene:
an undated scene has none, and the scenes of one studio on one day share
theirs (Plex would make them one episode).  s2p's own numbers (docs/tv.md,
"Episode numbers") tell every scene apart, so a name built from them is
taken for every scene:

    Studio/Season 2023/Studio - S2023E051201 - Title.mp4   (2023-05-12, the day's first)
    Studio/Season 00/Studio - S00E345 - Title.mp4          (undated scene 345)

``layout_path`` builds such a path, ``parse_name`` reads one back (the
season, the number, and what they say: the air date and place, or the
scene id), and ``scanner_skips`` says why Plex's scanner would skip a file.
The scanner's rules are those of Plex's "Plex Series Scanner" (2010, kept in
``ZeroQI/Absolute-Series-Scanner``): episode forms first (``S03E04``,
``S03-04``, ``3x04``, ``.304.``), then dates (``2023-05-12``, ``05-12-2023``,
any separators), then bare episode numbers (``Show - 04``); files directly
in the library root only by the first three.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date as Date
from pathlib import PurePosixPath

from s2p.tv.tree import UNDATED, Episode, Listing

# Plex's scanner reads a season folder's number from its end: "Season 2023", "Season 00".
SEASON_FOLDER = "Season {:02d}"
# A dated scene's number as a file name writes it: month, day, place (051201).
DATED_DIGITS = 6
# What a file name may hold of a show's and a scene's title, in characters.
SHOW_CHARS = 80
TITLE_CHARS = 120
# Beyond this many bytes a file name is refused by most file systems (255); the rest is for the suffixes.
NAME_BYTES = 240

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
# A year between punctuation ("(2019)", ".2019.") makes Plex's scanner blank out every
# "2019" of the file name before it looks for the episode: S2019E... included.
_BRACKETED_YEAR = re.compile(r"[(\[.\-]([12][0-9]{3})(?=[.\-)\]_,+])[.\-)\]_,+]?")
# Forms of an episode Plex's scanner would find in a show's name before the real one.
_EPISODE_LIKE = re.compile(r"[sS][0-9]+[._ ]*[eE][0-9]+|[0-9]+[xX][0-9]+")

_OWN_NAME = re.compile(r"(?:^|(?<=[^0-9a-z]))s(?P<season>[0-9]{1,4})[._ ]*e(?P<episode>[0-9]{1,12})(?![0-9])",
                       re.IGNORECASE)


# ---------------------------------------------------------------- writing


def clean(text: str, limit: int) -> str:
    """Text fit for one path component: no separators or characters Windows
    refuses, no control characters, single spaces, at most ``limit`` characters."""
    text = unicodedata.normalize("NFC", text)
    text = _UNSAFE.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" .-_")
    return text[:limit].rstrip(" .-_")


def _name_part(text: str, limit: int) -> str:
    text = _BRACKETED_YEAR.sub(lambda m: f" {m.group(1)} ", clean(text, limit))
    return clean(text, limit)


def show_folder(title: str) -> str:
    """The folder of a show: its title (Plex's scanner names the show after it)."""
    return clean(title, SHOW_CHARS) or "Untitled show"


def episode_code(episode: Episode) -> str:
    """``S2023E051201``, or ``S00E345`` for undated scene 345."""
    if episode.season == UNDATED:
        return f"S00E{episode.index}"
    return f"S{episode.season:02d}E{episode.index:0{DATED_DIGITS}d}"


def layout_path(show_title: str, episode: Episode, source: str, copy: int = 1) -> str:
    """Where a scene's file goes in a TV layout, relative to the library root:
    ``Show/Season YYYY/Show - SYYYYEmmddnn - Title.ext``.  ``copy``: the
    scene's second, third ... file (Plex keeps them as versions of one episode)."""
    folder = show_folder(show_title)
    season = SEASON_FOLDER.format(episode.season)
    suffix = PurePosixPath(source.replace("\\", "/")).suffix
    suffix = suffix if re.fullmatch(r"\.[0-9A-Za-z]{1,8}", suffix) else ""
    show = _name_part(show_title, SHOW_CHARS)
    parts = [show] if show and not _EPISODE_LIKE.search(show) else []
    parts.append(episode_code(episode))
    title = _name_part(episode.title, TITLE_CHARS)
    if title:
        parts.append(title)
    if copy > 1:
        parts.append(f"file {copy}")
    name = " - ".join(parts)
    while len((name + suffix).encode("utf-8")) > NAME_BYTES:
        name = name[:-1].rstrip(" .-_")
    return f"{folder}/{season}/{name}{suffix}"


@dataclass(frozen=True)
class Placement:
    """One file of one scene, and where a TV layout puts it."""

    scene_id: str
    show: str  # the show's title
    season: int
    episode: int
    source: str  # the file as Stash has it
    path: str  # relative to the layout's root


def placements(show_title: str, listing: Listing, taken: set[str] | None = None) -> list[Placement]:
    """Every file of a show's scenes, placed: by season, then number.  ``taken``
    (shared across shows) keeps two files from one path: a repeat gets the
    scene's id in its name."""
    taken = set() if taken is None else taken
    placed = []
    for episode in listing.episodes:
        for copy, file in enumerate(episode.scene.files, start=1):
            path = layout_path(show_title, episode, file.path, copy)
            if path.casefold() in taken:
                stem, dot, suffix = path.rpartition(".")
                path = f"{stem} - scene {episode.scene.id}.{suffix}" if dot and "/" not in suffix else (
                    f"{path} - scene {episode.scene.id}")
            taken.add(path.casefold())
            placed.append(Placement(episode.scene.id, show_title, episode.season, episode.index, file.path, path))
    return placed


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class LayoutName:
    """What a file name in s2p's numbers says."""

    season: int
    episode: int
    show: str | None  # the name before the code, when there is one
    title: str | None  # the words after it
    scene_id: str | None = None  # season 0: the episode number is the scene id
    date: str | None = None  # a dated season: the day the number names (YYYY-MM-DD)
    place: int | None = None  # and the scene's place among that day's


def parse_name(name: str) -> LayoutName | None:
    """Read ``Show - S2023E051201 - Title.ext`` or ``S00E345`` (a bare name or a
    path; the extension is ignored).  ``None`` when the name has no ``SxxEyy``."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem = base.rsplit(".", 1)[0] if re.search(r"\.[0-9A-Za-z]{1,8}$", base) else base
    m = _OWN_NAME.search(stem)
    if m is None:
        return None
    season, episode = int(m.group("season")), int(m.group("episode"))
    show = stem[:m.start()].strip(" .-_") or None
    title = stem[m.end():].strip(" .-_") or None
    if season == UNDATED:
        return LayoutName(season, episode, show, title, scene_id=str(episode)) if episode > 0 else None
    found = LayoutName(season, episode, show, title)
    if season >= 1000 and episode >= 10101:  # a year, and a number of month, day and place
        month, day, place = episode // 10000, episode // 100 % 100, episode % 100
        try:
            day_named = Date(season, month, day)
        except ValueError:
            return found
        if place > 0:
            return LayoutName(season, episode, show, title, date=day_named.isoformat(), place=place)
    return found


# ---------------------------------------------------------------- Plex's scanner

_EPISODE_FORMS = [
    re.compile(r"(?P<show>.*?)[sS](?P<season>[0-9]+)[._ ]*[eE](?P<ep>[0-9]+)", re.IGNORECASE),  # S03E04
    re.compile(r"(?P<show>.*?)[sS](?P<season>[0-9]{2})[._\- ]+(?P<ep>[0-9]+)", re.IGNORECASE),  # S03-04
    re.compile(r"(?P<show>.*?)([^0-9]|^)(?P<season>(19[3-9][0-9]|20[0-5][0-9]|[0-9]{1,2}))[Xx](?P<ep>[0-9]+)",
               re.IGNORECASE),  # 3x04
]
_WEAK_FORM = re.compile(r"(.*?)[^0-9a-z](?P<season>[0-9]{1,2})(?P<ep>[0-9]{2})([^0-9a-z%]|$)", re.IGNORECASE)  # .304.
_DATE_FORMS = [
    re.compile(r"(?P<year>[0-9]{4})[^0-9a-zA-Z]+(?P<month>[0-9]{2})[^0-9a-zA-Z]+(?P<day>[0-9]{2})([^0-9]|$)"),
    re.compile(r"(?P<month>[0-9]{2})[^0-9a-zA-Z]+(?P<day>[0-9]{2})[^0-9a-zA-Z(]+(?P<year>[0-9]{4})([^0-9a-zA-Z]|$)"),
]
_BARE_NUMBERS = [
    re.compile(r"(?P<ep>[0-9]{1,3})[. \-_]*of[. \-_]*[0-9]{1,3}", re.IGNORECASE),  # 01 of 08
    re.compile(r"^(?P<ep>[0-9]{1,3})[^0-9]"),  # 01 - Foo
    re.compile(r"e[a-z]*[ .\-_]*(?P<ep>[0-9]{2,3})([^0-9c-uw-z%]|$)", re.IGNORECASE),  # Blah ep234
    re.compile(r".*?[ .\-_](?P<ep>[0-9]{2,3})[^0-9c-uw-z%]+", re.IGNORECASE),  # Flah - 04 - Blah
    re.compile(r".*?[ .\-_](?P<ep>[0-9]{2,3})$"),  # Flah - 04
    re.compile(r".*?[^0-9x](?P<ep>[0-9]{2,3})$"),  # Flah707
]
_YEAR = re.compile(r"[(\[.\-]([12][0-9]{3})[.\-)\]_,+]")
_RESOLUTION = [re.compile(p) for p in (r"([hHx][.]?264)[^0-9]", r"[^0-9](720[pP])", r"[^0-9](1080[pP])",
                                       r"[^0-9](480[pP])")]

SKIPPED = ("Plex's TV scanner skips this file: its name is not like an episode's (SxxEyy, or a date "
           "in a show's folder); `s2p tv-layout` prints names it takes")


def scanner_skips(relative: str) -> str | None:
    """Why Plex's TV scanner would not add the file at ``relative`` (its path
    under the library's folder), or ``None`` when it would."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p]
    if not parts:
        return SKIPPED
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    if len(parts) == 1:  # in the library root: only the plain episode forms, with the show named in the file
        named = [m for form in _EPISODE_FORMS for m in [form.search(parts[-1])] if m]
        return None if any(m.group("show").strip(" .-_") for m in named) else (
            "Plex's TV scanner skips this file: it lies directly in the library's folder, where only "
            "names with the show and SxxEyy are taken; put it in its show's folder")
    if any(form.search(stem) for form in _DATE_FORMS):
        return None  # a date, or an episode form beside it: taken either way
    year = _YEAR.search(stem)
    cleaned = stem.replace(year.group(1), "XXXX") if year else stem
    for rx in _RESOLUTION:
        cleaned = rx.sub(" ", cleaned)
    if any(form.search(cleaned) for form in _EPISODE_FORMS):
        return None
    weak = _WEAK_FORM.search(cleaned)
    if weak and int(weak.group("season")) != 0:
        return None
    if any(rx.search(cleaned) for rx in _BARE_NUMBERS):
        return None
    return SKIPPED
