"""The TV provider's routes, under ``/tv``: registration, a show, season or
episode, and their children and grandchildren, paged.  Its match route is
the movie provider's resource (``web.provider.Matches``) on the TV
provider's ``MatchService``.

Thin, as the movie routes are: read what Plex sent leniently, ask
``TvService``, shape the answer with ``plex.contract``.
"""

from __future__ import annotations

import json
import logging

import falcon

from s2p import __version__
from s2p.plex import contract
from s2p.plex.hints import read_flag
from s2p.tv.service import TvService
from s2p.tv.tree import parse_key
from s2p.web.provider import LinksFactory, PlexValues

log = logging.getLogger(__name__)


class Registration:
    """``GET /tv``."""

    def __init__(self, identifier: str, title: str):
        self._body = contract.provider(identifier, title, __version__,
                                       (contract.SHOW, contract.SEASON, contract.EPISODE))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body
        req.context.outcome = "registration (TV)"

    on_head = on_get


class _TvResource:
    def __init__(self, tv: TvService, links: LinksFactory, values: PlexValues | None = None):
        self._tv = tv
        self._links = links
        self._values = values or PlexValues()

    def _json(self, resp: falcon.Response, answer: dict) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = json.dumps(answer, ensure_ascii=False).encode()

    def _not_found(self, req: falcon.Request, rating_key: str) -> None:
        req.context.outcome = f"{rating_key}: no such item"
        raise falcon.HTTPNotFound(title="unknown ratingKey",
                                  description="the TV provider's ratingKeys are show-<studio id>, "
                                              "season-<studio id>-<year> and episode-<scene id>")


class Item(_TvResource):
    """``GET /tv/library/metadata/{ratingKey}`` (``?includeChildren=1`` embeds the children)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        self._values.params(req)
        children = _include_children(req)
        # A HEAD is not Plex reading the item: nothing is recorded or queued for it.
        item = self._tv.item(rating_key, self._links(req), req.context.deadline, children=children,
                             served=req.method != "HEAD")
        if item is None:
            self._not_found(req, rating_key)
        self._json(resp, contract.container(self._tv.identifier, [item]))
        req.context.outcome = f"{item['type']} {rating_key}"  # type: ignore[index]

    on_head = on_get


class Children(_TvResource):
    """``GET /tv/library/metadata/{ratingKey}/children`` and ``/grandchildren``, paged
    by ``X-Plex-Container-Start`` (from 0) and ``X-Plex-Container-Size`` (default 20)."""

    def __init__(self, tv: TvService, links: LinksFactory, values: PlexValues | None = None, *, grand: bool):
        super().__init__(tv, links, values)
        self._grand = grand

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str) -> None:
        params = self._values.params(req)
        page = self._tv.children(rating_key, self._links(req), req.context.deadline, params.container_start,
                                 params.container_size, grand=self._grand)
        if page is None:
            self._not_found(req, rating_key)
        self._json(resp, contract.container(self._tv.identifier, page.items, total=page.total,  # type: ignore[union-attr]
                                            offset=page.offset))  # type: ignore[union-attr]
        req.context.outcome = (f"{rating_key} {'grandchildren' if self._grand else 'children'}: "
                               f"{len(page.items)} of {page.total} from {page.offset}")  # type: ignore[union-attr]

    on_head = on_get


class Other(_TvResource):
    """Any other sub-path: ``/images`` answers every picture of the item as an
    ``Image`` array (as the movie provider's does); the rest (``/extras`` ...)
    an empty container."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, rating_key: str, rest: str) -> None:
        self._values.params(req)
        if parse_key(rating_key) is None:
            self._not_found(req, rating_key)
        kind = rest.strip("/").split("/")[0]
        if kind == "images":
            images = self._tv.images(rating_key, self._links(req), req.context.deadline)
            if images is None:
                self._not_found(req, rating_key)
            self._json(resp, contract.container(self._tv.identifier, images or [], element="Image"))
            req.context.outcome = f"{rating_key}: {len(images or [])} image(s)"
            return
        self._json(resp, contract.container(self._tv.identifier))
        req.context.outcome = f"{rating_key}: empty {kind}"

    on_head = on_get


def _include_children(req: falcon.Request) -> bool:
    return read_flag(req.get_param("includeChildren"))  # an odd value reads as no
