"""Shows, seasons and episodes as Plex Metadata objects.  Pure.

An episode's full object is the movie translation of its scene (summary,
performers, director, genres, stash-box guids...) with the TV fields put
in its place: its keys, guid, type, numbers, parent and grandparent; a
season's ``includeChildren`` list embeds full episodes.  Simplified episodes
(a match result's children) come from the show's listing alone.
"""

from __future__ import annotations

from typing import Any

from s2p.plex import translate as movie
from s2p.plex.translate import UNKNOWN_DATE, ImageLinks, TranslateOptions
from s2p.stash.models import Scene
from s2p.tv import tree
from s2p.tv.catalog import Show
from s2p.tv.tree import EPISODE, SEASON, SHOW, Episode, Listing, Season


def _base(identifier: str, kind: int, rating_key: str, title: str) -> dict[str, Any]:
    return {
        "ratingKey": rating_key,
        "key": tree.metadata_key(rating_key, kind),
        "guid": tree.guid(identifier, kind, rating_key),
        "type": tree.KIND_NAMES[kind],
        "title": title,
    }


def show_poster(show: Show, links: ImageLinks) -> str | None:
    for studio in show.poster_studios():
        url = links.studio(studio)
        if url:
            return url
    return None


def show_item(show: Show, listing: Listing | None, options: TranslateOptions, links: ImageLinks, *,
              children: bool = False) -> dict[str, Any]:
    item = _base(options.identifier, SHOW, show.rating_key, show.title)
    first = next((s.first_released for s in listing.seasons if s.first_released), None) if listing else None
    item["originallyAvailableAt"] = first or UNKNOWN_DATE
    if first:
        item["year"] = int(first[:4])
    studio = show.studio
    if studio is not None and studio.details and studio.details.strip():
        item["summary"] = studio.details.strip()
    if show.parent is not None:
        item["studio"] = show.parent.name
        item["Studio"] = [{"tag": show.parent.name}]
    if options.content_rating:
        item["contentRating"] = options.content_rating
    item["isAdult"] = True
    poster = show_poster(show, links)
    if poster:
        item["thumb"] = poster
        item["Image"] = [{"type": "coverPoster", "url": poster, "alt": show.title},
                         {"type": "clearLogo", "url": poster, "alt": show.title}]
    if listing is not None:
        _backdrop(item, listing.newest, links)
    if studio is not None:
        genres = [{"tag": t.name} for t in studio.tags if t.name.casefold() not in options.exclude_tags]
        if genres:
            item["Genre"] = genres
    if children and listing is not None:
        seasons = [season_item(show, s, options, links) for s in listing.seasons]
        item["Children"] = {"size": len(seasons), "Metadata": seasons}
    return item


def season_item(show: Show, season: Season, options: TranslateOptions, links: ImageLinks, *,
                children: bool = False, episodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A season; ``episodes`` (full episode objects) are embedded as its
    ``Children``, else with ``children`` its episodes from the listing alone."""
    identifier = options.identifier
    item = _base(identifier, SEASON, tree.season_key(show.id, season.index), season.title)
    item.update(_parent(identifier, show, links, prefix="parent"))
    item["index"] = season.index
    item["originallyAvailableAt"] = season.first_released or UNKNOWN_DATE
    if season.index != tree.UNDATED:
        item["year"] = season.index
    if options.content_rating:
        item["contentRating"] = options.content_rating
    poster = show_poster(show, links)  # a season poster: the studio's, as Plex shows nothing better
    if poster:
        item["thumb"] = poster
        item["Image"] = [{"type": "coverPoster", "url": poster, "alt": season.title}]
    _backdrop(item, season.newest, links)
    if episodes is None and children:
        episodes = [episode_brief(show, e, options, links) for e in season.episodes]
    if episodes is not None:
        item["Children"] = {"size": len(episodes), "Metadata": episodes}
    return item


def _backdrop(item: dict[str, Any], episode: Episode | None, links: ImageLinks) -> None:
    """A show's or season's background: its newest episode's screenshot."""
    url = links.scene(episode.scene, "background") if episode is not None else None
    if url:
        item["art"] = url
        item.setdefault("Image", []).append({"type": "background", "url": url, "alt": item["title"]})


def _parent(identifier: str, show: Show, links: ImageLinks, *, prefix: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        f"{prefix}RatingKey": show.rating_key,
        f"{prefix}Key": tree.plain_key(show.rating_key),  # plain paths, as Plex's examples have
        f"{prefix}Guid": tree.guid(identifier, SHOW, show.rating_key),
        f"{prefix}Type": "show",
        f"{prefix}Title": show.title,
    }
    poster = show_poster(show, links)
    if poster:
        fields[f"{prefix}Thumb"] = poster
    return fields


def _episode_fields(show: Show, episode: Episode, options: TranslateOptions, links: ImageLinks) -> dict[str, Any]:
    identifier = options.identifier
    season_rk = tree.season_key(show.id, episode.season)
    season_title = Season(episode.season, ()).title
    fields = {
        **_base(identifier, EPISODE, tree.episode_key(episode.scene.id), episode.title),
        "index": episode.index,
        "parentIndex": episode.season,
        "parentRatingKey": season_rk,
        "parentKey": tree.plain_key(season_rk),
        "parentGuid": tree.guid(identifier, SEASON, season_rk),
        "parentType": "season",
        "parentTitle": season_title,
        **_parent(identifier, show, links, prefix="grandparent"),
        "originallyAvailableAt": episode.released or UNKNOWN_DATE,
    }
    if episode.released:
        fields["year"] = int(episode.released[:4])
    return fields


def episode_brief(show: Show, episode: Episode, options: TranslateOptions, links: ImageLinks) -> dict[str, Any]:
    """An episode from the listing alone: what a list of children needs."""
    item = _episode_fields(show, episode, options, links)
    thumb = links.scene(episode.scene, "snapshot")
    if thumb:
        item["thumb"] = thumb
    return item


def episode_item(show: Show, episode: Episode, scene: Scene, options: TranslateOptions,
                 links: ImageLinks) -> dict[str, Any]:
    """The full episode: the scene's movie object with the TV fields in place."""
    item = movie.metadata(scene, options, links)
    for field in ("Collection", "thumb", "art", "Image", "year"):
        item.pop(field, None)
    item.update(_episode_fields(show, episode, options, links))
    # 16:9 pictures suit episodes: the screenshot is the thumb and the background.
    snapshot = links.scene(scene, "snapshot")
    if snapshot:
        item["thumb"] = snapshot
        item["art"] = snapshot
        item["Image"] = [{"type": "snapshot", "url": snapshot, "alt": item["title"]},
                         {"type": "background", "url": snapshot, "alt": item["title"]}]
    return item


def match_episode(show: Show, episode: Episode, score: int, options: TranslateOptions,
                  links: ImageLinks) -> dict[str, Any]:
    item = episode_brief(show, episode, options, links)
    item["score"] = score
    return item

