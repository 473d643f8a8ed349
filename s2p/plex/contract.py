"""Shapes of the Plex custom metadata provider contract (PMS 1.43+).

See ``plex-provider-api.md``: the registration answer is a bare
``MediaProvider`` object; everything else is a ``MediaContainer``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

MOVIE = 1
METADATA_PATH = "/library/metadata"
MATCH_PATH = "/library/metadata/matches"

# ratingKey is the Stash scene id: digits only, never a path, never a slash.
RATING_KEY = re.compile(r"[0-9]{1,10}")
# Stash's ids are GraphQL Ints (its filters take ``id: IntCriterionInput``):
# 32-bit signed.  A larger number names no scene; asking Stash about it only
# earns an error, which would read as Stash being down.
MAX_STASH_ID = 2**31 - 1


def is_stash_id(value: str) -> bool:
    """Digits Stash can hold as an id (at most ``MAX_STASH_ID``)."""
    return RATING_KEY.fullmatch(value) is not None and int(value) <= MAX_STASH_ID


def is_rating_key(value: str) -> bool:
    return is_stash_id(value)


SHOW, SEASON, EPISODE = 2, 3, 4


def provider(identifier: str, title: str, version: str, types: tuple[int, ...] = (MOVIE,)) -> dict[str, Any]:
    """The registration answer; a TV provider names show, season and episode, one scheme for all."""
    return {
        "MediaProvider": {
            "identifier": identifier,
            "title": title,
            "version": version,
            "Types": [{"type": kind, "Scheme": [{"scheme": identifier}]} for kind in types],
            "Feature": [
                {"type": "metadata", "key": METADATA_PATH},
                {"type": "match", "key": MATCH_PATH},
            ],
        }
    }


def container(identifier: str, items: Iterable[dict[str, Any]] = (), *, element: str = "Metadata",
              total: int | None = None, offset: int = 0) -> dict[str, Any]:
    items = list(items)
    return {
        "MediaContainer": {
            "offset": offset,
            "totalSize": len(items) if total is None else total,
            "identifier": identifier,
            "size": len(items),
            element: items,
        }
    }


def guid(identifier: str, rating_key: str) -> str:
    return f"{identifier}://movie/{rating_key}"


def key(rating_key: str) -> str:
    return f"{METADATA_PATH}/{rating_key}"


GUID_KINDS = ("movie", "show", "season", "episode")


def own_guid(identifier: str, value: str | None) -> tuple[str, str] | None:
    """(kind, ratingKey) of one of s2p's own guids (``<identifier>://<kind>/<key>``,
    any query part ignored), else ``None``; the key is checked by whoever reads it."""
    if not value or not value.startswith(f"{identifier}://"):
        return None
    kind, _, rest = value[len(identifier) + 3:].partition("/")
    key = rest.split("?", 1)[0]
    if kind not in GUID_KINDS or not key or "/" in key:
        return None
    if kind == "movie" and not is_rating_key(key):
        return None
    return kind, key


def scene_id_from_guid(identifier: str, value: str | None) -> str | None:
    """The scene id in one of our own guids, else ``None``."""
    if not value:
        return None
    prefix = f"{identifier}://movie/"
    if not value.startswith(prefix):
        return None
    rest = value[len(prefix):].split("?", 1)[0]
    return rest if is_rating_key(rest) else None


def scene_id_from_episode_guid(tv_identifier: str, value: str | None) -> str | None:
    """The scene id in one of the TV provider's episode guids
    (``<identifier>.tv://episode/episode-<scene id>``), else ``None``."""
    prefix = f"{tv_identifier}://episode/episode-"
    if not value or not value.startswith(prefix):
        return None
    rest = value[len(prefix):].split("?", 1)[0]
    return rest if is_rating_key(rest) else None
