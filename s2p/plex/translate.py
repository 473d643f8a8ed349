"""Stash scene -> Plex Metadata object.  Pure: no I/O, easy to test.

Image URLs come from an ``ImageLinks`` object handed in by the caller, so
the translation knows nothing about hosts, signatures or routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from s2p.config import ProviderSettings
from s2p.stash.models import GroupRef, PerformerRef, Scene, SceneSummary, StudioRef, release, title_of
from s2p.plex import contract


class ImageLinks(Protocol):
    """Absolute, credential-free image URLs (``None``: no such image)."""

    base: str  # where the URLs point: answers rendered for one base suit no other

    def scene(self, scene: SceneSummary, variant: str) -> str | None: ...

    def performer(self, performer: PerformerRef) -> str | None: ...

    def studio(self, studio: StudioRef) -> str | None: ...

    def group(self, group: GroupRef) -> str | None: ...

    def known_without_cover(self, scene: SceneSummary) -> bool: ...


@dataclass(frozen=True)
class TranslateOptions:
    identifier: str
    content_rating: str = "XXX"
    partial_dates: str = "first_day"
    collections: tuple[str, ...] = ("groups",)
    exclude_tags: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, provider: ProviderSettings) -> "TranslateOptions":
        return cls(
            identifier=provider.identifier,
            content_rating=provider.content_rating,
            partial_dates=provider.partial_dates,
            collections=tuple(provider.collections),
            exclude_tags=frozenset(t.casefold() for t in provider.exclude_tags),
        )


_KNOWN_ENDPOINTS = {
    "stashdb.org": "stashdb",
    "theporndb.net": "tpdb",
    "metadataapi.net": "tpdb",
    "fansdb.cc": "fansdb",
    "pmvstash.org": "pmvstash",
    "javstash.org": "javstash",
}


def guid_scheme(endpoint: str) -> str | None:
    """A short scheme for a stash-box endpoint (``stashdb`` for stashdb.org)."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if not host:
        return None
    for domain, scheme in _KNOWN_ENDPOINTS.items():
        if host == domain or host.endswith("." + domain):
            return scheme
    labels = [label for label in host.split(".") if label not in ("www", "api", "graphql")]
    scheme = re.sub(r"[^a-z0-9]", "", labels[0]) if labels else ""
    return scheme or None


# Plex's documentation marks originallyAvailableAt required, in YYYY-MM-DD.
# A scene without a date gets an empty string, as Plex's own example
# provider sends when it knows no date: an invented date (the day the file
# was added, say) would sort and group the scene as if it were released then.
UNKNOWN_DATE = ""


def match_item(scene: SceneSummary, score: int, options: TranslateOptions, links: ImageLinks) -> dict[str, Any]:
    """A match result: enough for Plex to pick it and show it in Fix Match."""
    rating_key = scene.id
    item: dict[str, Any] = {
        "ratingKey": rating_key,
        "key": contract.key(rating_key),
        "guid": contract.guid(options.identifier, rating_key),
        "type": "movie",
        "title": title_of(scene),
    }
    released, year = release(scene.date, options.partial_dates)
    item["originallyAvailableAt"] = released or UNKNOWN_DATE
    if year:
        item["year"] = year
    thumb = links.scene(scene, "poster")
    if thumb:
        item["thumb"] = thumb
    item["score"] = score
    return item


def metadata(scene: Scene, options: TranslateOptions, links: ImageLinks) -> dict[str, Any]:
    """The full Metadata object for one scene."""
    rating_key = scene.id
    title = title_of(scene)
    item: dict[str, Any] = {
        "ratingKey": rating_key,
        "key": contract.key(rating_key),
        "guid": contract.guid(options.identifier, rating_key),
        "type": "movie",
        "title": title,
    }
    released, year = release(scene.date, options.partial_dates)
    item["originallyAvailableAt"] = released or UNKNOWN_DATE
    if year:
        item["year"] = year
    if scene.details and scene.details.strip():
        item["summary"] = scene.details.strip()
    if scene.studio is not None:
        item["studio"] = scene.studio.name
    if options.content_rating:
        item["contentRating"] = options.content_rating
    item["isAdult"] = True
    primary = scene.primary_file
    if primary is not None and primary.duration:
        item["duration"] = int(round(primary.duration * 1000))

    artwork = images(scene, links)
    poster = next((i["url"] for i in artwork if i["type"] == "coverPoster"), None)
    background = next((i["url"] for i in artwork if i["type"] == "background"), None)
    if poster:
        item["thumb"] = poster
    if background:
        item["art"] = background
    if artwork:
        item["Image"] = [dict(i, alt=title) for i in artwork]

    genres = [{"tag": t.name} for t in scene.tags if t.name.casefold() not in options.exclude_tags]
    if genres:
        item["Genre"] = genres
    roles = []
    for order, performer in enumerate(scene.performers, start=1):
        role: dict[str, Any] = {"tag": performer.name, "order": order}
        photo = links.performer(performer)
        if photo:
            role["thumb"] = photo
        roles.append(role)
    if roles:
        item["Role"] = roles
    if scene.director and scene.director.strip():
        item["Director"] = [{"tag": scene.director.strip()}]
    studios = _studio_chain(scene.studio)
    if studios:
        item["Studio"] = [{"tag": s.name} for s in studios]
    collections = _collections(scene, options.collections)
    if collections:
        item["Collection"] = [{"tag": name} for name in collections]
    guids = []
    for stash_id in scene.stash_ids:
        scheme = guid_scheme(stash_id.endpoint)
        if scheme and stash_id.stash_id:
            guids.append({"id": f"{scheme}://{stash_id.stash_id}"})
    if guids:
        item["Guid"] = guids
    return item


def images(scene: Scene, links: ImageLinks) -> list[dict[str, str]]:
    """Every artwork choice for a scene, in Plex's ``Image[]`` shape; the
    first of each type is the default (``thumb``, ``art``)."""
    found: list[dict[str, str]] = []
    poster = links.scene(scene, "poster")
    background = links.scene(scene, "background")
    logo = None
    for studio in _studio_chain(scene.studio):
        logo = links.studio(studio)
        if logo:
            break
    if poster:
        found.append({"type": "coverPoster", "url": poster})
    elif logo:
        # A scene without a screenshot still gets its studio's image as poster.
        found.append({"type": "coverPoster", "url": logo})
    # A group's front cover (a DVD cover) is a real poster: offer it too.
    for entry in scene.groups:
        cover = links.group(entry.group)
        if cover:
            found.append({"type": "coverPoster", "url": cover})
    if background:
        found.append({"type": "background", "url": background})
    square = links.scene(scene, "square")
    if square:
        found.append({"type": "backgroundSquare", "url": square})
    if logo:
        found.append({"type": "clearLogo", "url": logo})
    snapshot = links.scene(scene, "snapshot")
    if snapshot:
        found.append({"type": "snapshot", "url": snapshot})
    return found


def _studio_chain(studio: StudioRef | None) -> list[StudioRef]:
    chain: list[StudioRef] = []
    seen = set()
    while studio is not None and studio.id not in seen and len(chain) < 10:
        chain.append(studio)
        seen.add(studio.id)
        studio = studio.parent_studio
    return chain


def _collections(scene: Scene, sources: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for source in sources:
        if source == "groups":
            names.extend(g.group.name for g in scene.groups)
        elif source == "studio" and scene.studio is not None:
            names.append(scene.studio.name)
        elif source == "parent_studio" and scene.studio is not None and scene.studio.parent_studio is not None:
            names.append(scene.studio.parent_studio.name)
    return list(dict.fromkeys(n for n in names if n))
