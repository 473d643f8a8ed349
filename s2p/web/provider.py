"""The routes Plex calls: registration, match, metadata and its sub-paths.

Resources are thin: they parse and validate, call a service, and shape the
answer with ``plex.contract``.  The request's deadline is set by the
middleware (``req.context.deadline``); Stash trouble becomes a ``503`` in
one place (``errors.handle_stash_error``).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import falcon

from s2p import __version__
from s2p.match.query import MatchQuery, OwnGuid
from s2p.match.service import MatchService
from s2p.metadata.service import MetadataService
from s2p.plex import contract
from s2p.plex.hints import (NO_PLEX_PARAMS, PLEX_HEADERS, HintError, MatchHints, PlexParams, match_hints,
                            plex_params)
from s2p.plex.translate import ImageLinks
from s2p.web.bodies import parse_json, read_text
from s2p.web.errors import BadRequest

log = logging.getLogger(__name__)

LinksFactory = Callable[[falcon.Request], ImageLinks]

# WSGI's names of the X-Plex-* headers.
_PLEX_ENV_KEYS = tuple((name, "HTTP_" + name.upper().replace("-", "_")) for name in PLEX_HEADERS)


class PlexValues:
    """Reads what Plex sends (``X-Plex-*`` values, match hints) leniently:
    an odd optional value is dropped, logged at DEBUG by field and reason
    (never the value) and told to the observers (the metrics count them)."""

    def __init__(self, observers: list[Callable[[str, str], None]] | None = None,
                 route: Callable[[str], str] = lambda template: template):
        self._observers = observers if observers is not None else []
        self._route = route  # a route template as it may be logged (without the secret root)

    def params(self, req: falcon.Request, dropped: list[tuple[str, str]] | None = None) -> PlexParams:
        # Only the X-Plex-* headers, read from the environ (req.headers builds a dict of every header).
        env = req.env
        headers = {name: value for name, key in _PLEX_ENV_KEYS if (value := env.get(key)) is not None}
        if not headers and not req.query_string:
            return NO_PLEX_PARAMS  # most requests: nothing to read
        return plex_params(headers, req.params, self._dropper(req, dropped))

    def hints(self, req: falcon.Request, body, dropped: list[tuple[str, str]] | None = None) -> MatchHints:
        """Refuses (400) only a body that is not a JSON object; ``dropped``
        collects what was left out."""
        try:
            return match_hints(body, req.params, self.params(req, dropped), self._dropper(req, dropped))
        except HintError as exc:
            raise BadRequest("invalid match request", exc.problems) from None

    def query(self, req: falcon.Request, body: Any, identifier: str,
              dropped: list[tuple[str, str]] | None = None) -> MatchQuery:
        """The match core's query from what Plex sent to the provider ``identifier``."""
        return to_query(self.hints(req, body, dropped), identifier)

    def report(self, req: falcon.Request, dropped: Iterable[tuple[str, str]]) -> None:
        """Tell again what a request left out (its answer was replayed)."""
        report = self._dropper(req)
        for field, reason in dropped:
            report(field, reason)

    def _dropper(self, req: falcon.Request, kept: list | None = None) -> Callable[[str, str], None]:
        def dropped(field: str, reason: str) -> None:
            if kept is not None:
                kept.append((field, reason))
            log.debug("%s %s: dropped %s (%s)", req.method, self._route(req.uri_template or "-"), field, reason)
            for observe in self._observers:
                observe(field, reason)
        return dropped


def to_query(hints: MatchHints, identifier: str) -> MatchQuery:
    """Plex's hints in the match core's terms, s2p's own guids decoded.

    An episode's number or season of 0 or below means "not known"; an
    episode's parent is its season and its grandparent its show, a season's
    parent its show (their keys, or their guids, when they are s2p's own)."""

    def own_key(rating_key: str | None, guid: str | None, kind: str) -> str | None:
        decoded = contract.own_guid(identifier, guid)
        if decoded is not None and decoded[0] == kind:
            return decoded[1]
        return rating_key

    own = contract.own_guid(identifier, hints.guid)
    index, parent_index = hints.index, hints.parentIndex
    show_key = season_key = None
    if hints.type == contract.EPISODE:
        index, parent_index = index or None, parent_index or None
        show_key = own_key(hints.grandparentRatingKey, hints.grandparentGuid, "show")
        season_key = own_key(hints.parentRatingKey, hints.parentGuid, "season")
    elif hints.type == contract.SEASON:
        show_key = own_key(hints.parentRatingKey, hints.parentGuid, "show")
    return MatchQuery(
        kind=hints.type, filename=hints.filename, title=hints.title, year=hints.year, ohash=hints.ohash,
        manual=hints.manual, guid=hints.guid, own=OwnGuid(*own) if own else None, show_title=hints.show_title,
        index=index, parent_index=parent_index, date=hints.air_date, show_key=show_key, season_key=season_key,
        include_children=hints.includeChildren, client_identifier=hints.client_identifier)


class Registration:
    """``GET /``: what Plex reads when the provider is added."""

    def __init__(self, identifier: str, title: str):
        self._body = contract.provider(identifier, title, __version__)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body
        req.context.outcome = "registration"

    on_head = on_get


class Matches:
    """``POST /library/metadata/matches`` (GET accepted with query hints), for
    the movie provider and, under ``/tv``, the TV provider: the request read
    here, answered by the provider's ``MatchService``."""

    def __init__(self, service: MatchService[Any], links: LinksFactory, values: PlexValues | None = None, *,
                 max_body: int):
        self._service = service
        self._links = links
        self._values = values or PlexValues()
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        text = read_text(req, self._max_body)  # a body seen a moment ago is not parsed again
        self._respond(req, resp, lambda: parse_json(text))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._respond(req, resp, lambda: None)

    def _respond(self, req: falcon.Request, resp: falcon.Response, body: Callable[[], Any]) -> None:
        # What the answer depends on: the hints (body and query) and where
        # image URLs point.  X-Plex-* headers do not change which scene a file is.
        where = (req.scheme, req.netloc)
        key = (req.method, getattr(req.context, "body_text", None) or "", req.query_string, where)
        answer = self._service.replay(key)
        if answer is not None:
            self._values.report(req, answer.noted)
        else:
            dropped: list[tuple[str, str]] = []
            query = self._values.query(req, body(), self._service.identifier, dropped)
            answer = self._service.answer(query, self._links(req), req.context.deadline, where=where,
                                          request_key=key, noted=tuple(dropped))
        for name, value in answer.context.items():
            setattr(req.context, name, value)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = answer.data


class _SceneResource:
    def __init__(self, metadata: MetadataService, links: LinksFactory, values: PlexValues | None = None):
        self._metadata = metadata
        self._links = links
        self._values = values or PlexValues()

    def _scene(self, req: falcon.Request, rating_key: str):
        self._values.params(req)
        if not contract.is_rating_key(rating_key):
            req.context.outcome = "unknown ratingKey"
            raise falcon.HTTPNotFound(title="unknown ratingKey",
                                      description="s2p's ratingKeys are Stash scene ids (digits)")
        req.context.outcome = f"scene {rating_key}"  # kept when Stash cannot be asked
        scene = self._metadata.scene(rating_key, req.context.deadline)
        if scene is None:
            req.context.outcome = f"scene {rating_key}: not in Stash"
            raise falcon.HTTPNotFound(title="unknown ratingKey", description=f"Stash has no scene {rating_key}")
        req.context.scene = scene.id
        return scene


class MetadataItem(_SceneResource):
    """``GET /library/metadata/{ratingKey}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        scene = self._scene(req, rating_key)
        resp.content_type = falcon.MEDIA_JSON
        # A HEAD is not Plex reading the item: nothing is recorded or queued for it.
        resp.data = self._metadata.rendered(scene, self._links(req), served=req.method != "HEAD")
        req.context.outcome = f"scene {scene.id}"

    on_head = on_get


class MetadataImages(_SceneResource):
    """``GET /library/metadata/{ratingKey}/images``: every artwork choice."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        scene = self._scene(req, rating_key)
        answer = self._metadata.images(scene, self._links(req))
        resp.media = answer
        req.context.outcome = f"scene {scene.id}: {answer['MediaContainer']['size']} image(s)"

    on_head = on_get


class MetadataOther:
    """Any other sub-path (``/extras`` and whatever Plex asks next): empty."""

    def __init__(self, identifier: str, values: PlexValues | None = None):
        self._identifier = identifier
        self._values = values or PlexValues()

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str, rest: str) -> None:
        self._values.params(req)
        if not contract.is_rating_key(rating_key):
            raise falcon.HTTPNotFound(title="unknown ratingKey")
        resp.media = contract.container(self._identifier)
        req.context.outcome = f"scene {rating_key}: empty {rest.split('/')[0]}"

    on_head = on_get
