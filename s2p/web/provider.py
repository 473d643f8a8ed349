"""The routes Plex calls: registration, match, metadata and its sub-paths.

Resources are thin: they parse and validate, call a service, and shape the
answer with ``plex.contract``.  The request's deadline is set by the
middleware (``req.context.deadline``); Stash trouble becomes a ``503`` in
one place (``errors.handle_stash_error``).
"""

from __future__ import annotations

import json
import logging
from typing import Callable

import falcon

from s2p import __version__
from s2p.common.cache import TTLCache
from s2p.match.cached import CachedMatcher
from s2p.match.cascade import MatchOutcome
from s2p.metadata.service import MetadataService
from s2p.plex import contract, translate
from s2p.plex.hints import (NO_PLEX_PARAMS, PLEX_HEADERS, HintError, MatchHints, PlexParams, match_hints,
                            plex_params)
from s2p.plex.translate import ImageLinks
from s2p.web.bodies import parse_json, read_text
from s2p.web.errors import BadRequest

log = logging.getLogger(__name__)

LinksFactory = Callable[[falcon.Request], ImageLinks]

# Match answers kept as bytes for requests seen a moment ago (a rescan repeats them).
ANSWERS_KEPT = 5000


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

    def report(self, req: falcon.Request, dropped) -> None:
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


class Registration:
    """``GET /``: what Plex reads when the provider is added."""

    def __init__(self, identifier: str, title: str):
        self._body = contract.provider(identifier, title, __version__)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body
        req.context.outcome = "registration"

    on_head = on_get


class Matches:
    """``POST /library/metadata/matches`` (GET accepted with query hints)."""

    def __init__(self, matcher: CachedMatcher, metadata: MetadataService, links: LinksFactory, *,
                 max_body: int, manual_limit: int, values: PlexValues | None = None,
                 observers: list[Callable[[MatchOutcome], None]] | None = None):
        self._values = values or PlexValues()
        self._matcher = matcher
        # Answers to requests seen a moment ago, as bytes (kept as briefly as the outcomes).
        self._answers: TTLCache[tuple] = TTLCache(ANSWERS_KEPT if matcher.cache.max_weight else 0,
                                                  matcher.cache.ttl)
        self._metadata = metadata
        self._links = links
        self._max_body = max_body
        self._manual_limit = manual_limit
        self._observers = observers if observers is not None else []

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        text = read_text(req, self._max_body)  # a body seen a moment ago is not parsed again
        if not self._replay(req, resp):
            self._answer(req, resp, parse_json(text))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._replay(req, resp):
            self._answer(req, resp, None)

    def _request_key(self, req: falcon.Request) -> tuple:
        # What the answer depends on: the hints (body and query), where image
        # URLs point, and the generation of what matching knew.  X-Plex-*
        # headers do not change which scene a file is.
        return (self._matcher.generation, req.method, getattr(req.context, "body_text", None) or "",
                req.query_string, req.scheme, req.netloc)  # where image URLs point

    def _replay(self, req: falcon.Request, resp: falcon.Response) -> bool:
        """A request seen a moment ago gets the same bytes, without parsing,
        scoring or serialising again; observers are told as for a new one."""
        kept = self._answers.get(self._request_key(req))
        if kept is None:
            return False
        data, outcome, context, dropped = kept
        self._values.report(req, dropped)
        for observe in self._observers:
            observe(outcome)
        for name, value in context.items():
            setattr(req.context, name, value)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data
        return True

    def _answer(self, req: falcon.Request, resp: falcon.Response, body) -> None:
        dropped: list[tuple[str, str]] = []
        hints = self._values.hints(req, body, dropped)
        identifier = self._metadata.identifier
        if hints.type not in (None, contract.MOVIE):
            req.context.outcome = f"no match: type {hints.type} is not a movie"
            resp.media = contract.container(identifier)
            return
        outcome = self._matcher.match(hints, req.context.deadline)
        for observe in self._observers:
            observe(outcome)
        if hints.manual:
            chosen = outcome.candidates[: self._manual_limit]
        else:
            chosen = [outcome.decision] if outcome.decision else []
        links = self._links(req)
        options = self._metadata.options
        data = json.dumps(contract.container(
            identifier, [translate.match_item(c.scene, c.score, options, links) for c in chosen]),
            ensure_ascii=False).encode()
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data
        context = {"outcome": _describe(outcome, len(chosen))}
        if outcome.decision and not hints.manual:
            context.update(scene=outcome.decision.scene.id, score=outcome.decision.score,
                           step=outcome.decision.step)
        for name, value in context.items():
            setattr(req.context, name, value)
        if self._matcher.keeps(outcome):
            self._answers.put(self._request_key(req), (data, outcome, context, tuple(dropped)))
        if outcome.error:
            log.warning("match for %r answered empty: %s", hints.filename or hints.title, outcome.error)


def _describe(outcome: MatchOutcome, listed: int) -> str:
    hint = outcome.hints.filename or outcome.hints.title or outcome.hints.guid or "-"
    if outcome.hints.manual:
        return f"manual {hint!r}: {listed} candidate(s); {outcome.reason}"
    if outcome.decision:
        d = outcome.decision
        return f"{hint!r} -> scene {d.scene.id} score {d.score} by {d.step}"
    return f"{hint!r}: no match ({outcome.reason})"


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
