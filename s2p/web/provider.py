"""The routes Plex calls: registration, match, metadata and its sub-paths.

Resources are thin: they parse and validate, call a service, and shape the
answer with ``plex.contract``.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

import falcon

from .. import __version__
from ..cache import TTLCache
from ..config import Settings
from ..deadline import Deadline
from ..matching import Matcher, MatchOutcome
from ..plex import contract, translate
from ..plex.hints import HintError, match_hints, plex_params
from ..plex.translate import ImageLinks, TranslateOptions
from ..scenes import SceneStore
from ..stash.errors import StashError
from .bodies import read_json
from .errors import BadRequest

log = logging.getLogger("s2p.web")

# Rendered metadata answers kept: a few KB each, and each holds its Scene
# (about 4.5 KB), so no more than the scene cache keeps by default.
RENDERED_ANSWERS = 2000

LinksFactory = Callable[[falcon.Request], ImageLinks]


class Registration:
    """``GET /``: what Plex reads when the provider is added."""

    def __init__(self, settings: Settings):
        self._body = contract.provider(settings.provider.identifier, settings.provider.title, __version__)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body
        req.context.outcome = "registration"

    on_head = on_get


class Matches:
    """``POST /library/metadata/matches`` (GET accepted with query hints)."""

    def __init__(self, settings: Settings, matcher: Matcher, options: TranslateOptions, links: LinksFactory,
                 observers: list[Callable[[MatchOutcome], None]] | None = None):
        self._settings = settings
        self._matcher = matcher
        self._options = options
        self._links = links
        self._observers = observers if observers is not None else []

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._answer(req, resp, read_json(req, self._settings.server.max_body))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._answer(req, resp, None)

    def _answer(self, req: falcon.Request, resp: falcon.Response, body) -> None:
        try:
            plex = plex_params(req.headers, req.params)
            hints = match_hints(body, req.params, plex)
        except HintError as exc:
            raise BadRequest("invalid match request", exc.problems) from None
        identifier = self._settings.provider.identifier
        if hints.type not in (None, contract.MOVIE):
            req.context.outcome = f"no match: type {hints.type} is not a movie"
            resp.media = contract.container(identifier)
            return
        outcome = self._matcher.match(hints, Deadline(self._settings.server.request_budget))
        for observe in self._observers:
            observe(outcome)
        if hints.manual:
            chosen = outcome.candidates[: self._settings.match.manual_limit]
        else:
            chosen = [outcome.decision] if outcome.decision else []
        links = self._links(req)
        resp.media = contract.container(
            identifier, [translate.match_item(c.scene, c.score, self._options, links) for c in chosen]
        )
        req.context.outcome = _describe(outcome, len(chosen))
        if outcome.decision and not hints.manual:
            req.context.scene = outcome.decision.scene.id
            req.context.score = outcome.decision.score
            req.context.step = outcome.decision.step
        if outcome.error:
            log.warning("match for %r answered empty: %s", hints.filename or hints.title, outcome.error)


def check_plex_params(req: falcon.Request):
    """The ``X-Plex-*`` values, refused with 400 when malformed (every Plex route
    checks them, not only the ones that page)."""
    try:
        return plex_params(req.headers, req.params)
    except HintError as exc:
        raise BadRequest("invalid X-Plex-* values", exc.problems) from None


def _describe(outcome: MatchOutcome, listed: int) -> str:
    hint = outcome.hints.filename or outcome.hints.title or outcome.hints.guid or "-"
    if outcome.hints.manual:
        return f"manual {hint!r}: {listed} candidate(s); {outcome.reason}"
    if outcome.decision:
        d = outcome.decision
        return f"{hint!r} -> scene {d.scene.id} score {d.score} by {d.step}"
    return f"{hint!r}: no match ({outcome.reason})"


class _SceneResource:
    def __init__(self, settings: Settings, scenes: SceneStore, options: TranslateOptions, links: LinksFactory):
        self._settings = settings
        self._scenes = scenes
        self._options = options
        self._links = links

    def _scene(self, req: falcon.Request, rating_key: str):
        check_plex_params(req)
        if not contract.is_rating_key(rating_key):
            req.context.outcome = "unknown ratingKey"
            raise falcon.HTTPNotFound(title="unknown ratingKey",
                                      description="s2p's ratingKeys are Stash scene ids (digits)")
        try:
            scene = self._scenes.get(rating_key, deadline=Deadline(self._settings.server.request_budget))
        except StashError as exc:
            req.context.outcome = f"scene {rating_key}: Stash unavailable"
            raise falcon.HTTPServiceUnavailable(title="Stash unavailable", description=str(exc),
                                                retry_after=10) from None
        if scene is None:
            req.context.outcome = f"scene {rating_key}: not in Stash"
            raise falcon.HTTPNotFound(title="unknown ratingKey", description=f"Stash has no scene {rating_key}")
        return scene


class MetadataItem(_SceneResource):
    """``GET /library/metadata/{ratingKey}``."""

    def __init__(self, *args, served: list[Callable[[str], None]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._served = served if served is not None else []
        cache = self._settings.cache
        # The rendered answer, kept with the very Scene object it came from:
        # when the scene cache loads a newer scene, the answer is rendered anew.
        self._rendered: TTLCache[tuple[object, bytes]] = TTLCache(
            RENDERED_ANSWERS if cache.enabled else 0, cache.ttl)

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        scene = self._scene(req, rating_key)
        links = self._links(req)
        key = (scene.id, links.base)
        kept = self._rendered.get(key)
        if kept is not None and kept[0] is scene:
            body = kept[1]
        else:
            body = json.dumps(contract.container(
                self._settings.provider.identifier, [translate.metadata(scene, self._options, links)]
            ), ensure_ascii=False).encode()
            self._rendered.put(key, (scene, body))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body
        for served in self._served:
            served(scene.id)
        req.context.outcome = f"scene {scene.id}"
        req.context.scene = scene.id


class MetadataImages(_SceneResource):
    """``GET /library/metadata/{ratingKey}/images``: every artwork choice."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        scene = self._scene(req, rating_key)
        found = translate.images(scene, self._links(req))
        resp.media = contract.container(self._settings.provider.identifier, found, element="Image")
        req.context.outcome = f"scene {scene.id}: {len(found)} image(s)"
        req.context.scene = scene.id


class MetadataOther:
    """Any other sub-path (``/extras`` and whatever Plex asks next): empty."""

    def __init__(self, settings: Settings):
        self._identifier = settings.provider.identifier

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str, rest: str) -> None:
        check_plex_params(req)
        if not contract.is_rating_key(rating_key):
            raise falcon.HTTPNotFound(title="unknown ratingKey")
        resp.media = contract.container(self._identifier)
        req.context.outcome = f"scene {rating_key}: empty {rest.split('/')[0]}"
