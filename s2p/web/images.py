"""``GET /images/{kind}/{id}/{variant}/{version}/{signature}``: artwork
fetched from Stash for Plex.

This route may be published on a public hostname (Plex fetches provider
images through its own cloud service), so it trusts nothing but the URL's
signature: malformed paths are 404 before anything is looked up, unsigned or
wrongly signed URLs are 403, and only then is Stash asked.  A URL names one
version of one picture, so a revalidation is answered from the URL alone.
"""

from __future__ import annotations

import functools
import hashlib
from email.utils import formatdate, parsedate_to_datetime

import falcon

from s2p.artwork.links import VERSION, known, poster_shape, seconds
from s2p.artwork.service import ImageService
from s2p.artwork.shape import RENDER_VERSION
from s2p.artwork.signing import ImageSigner
from s2p.plex.contract import is_stash_id

# A URL's picture never changes (a new picture gets a new URL): cache it for a year.
CACHE_CONTROL = ("public", "max-age=31536000", "immutable")


class ImageResource:
    def __init__(self, images: ImageService, signer: ImageSigner):
        self._images = images
        self._signer = signer

    # The route without version and signature answers too: 404 or 403.
    def on_get(self, req: falcon.Request, resp: falcon.Response, kind: str, entity_id: str, variant: str,
               version: str = "", signature: str = "") -> None:
        self._answer(req, resp, kind, entity_id, variant, version, signature, body=True)

    def on_head(self, req: falcon.Request, resp: falcon.Response, kind: str, entity_id: str, variant: str,
                version: str = "", signature: str = "") -> None:
        self._answer(req, resp, kind, entity_id, variant, version, signature, body=False)

    def _answer(self, req: falcon.Request, resp: falcon.Response, kind: str, entity_id: str, variant: str,
                version: str, signature: str, *, body: bool) -> None:
        # A signature is a key to one picture: keep it out of the request log.
        req.context.path = f"/images/{kind}/{entity_id}/{variant}" + (f"/{version}/…" if signature else "")
        if not is_stash_id(entity_id) or not known(kind, variant):
            req.context.outcome = "no such image"
            raise falcon.HTTPNotFound(title="no such image", headers={"Cache-Control": "no-store"})
        if not VERSION.fullmatch(version) or not self._signer.verify(kind, entity_id, variant, version, signature):
            req.context.outcome = f"{kind} {entity_id} {variant}: bad signature"
            raise falcon.HTTPForbidden(title="invalid image URL",
                                       description="image URLs are signed by s2p; use the URL from the metadata",
                                       headers={"Cache-Control": "no-store"})
        etag = self._etag(kind, entity_id, variant, version)
        modified = seconds(version)
        if _not_modified(req, etag, modified):
            req.context.outcome = f"{kind} {entity_id} {variant}: not modified"
            _cacheable(resp, etag, modified)
            resp.status = falcon.HTTP_304
            return
        req.context.outcome = f"{kind} {entity_id}"  # kept when Stash cannot be asked
        image = self._images.image(kind, entity_id, variant, deadline=req.context.deadline)
        if image is None:
            req.context.outcome = f"{kind} {entity_id} {variant}: no image"
            raise falcon.HTTPNotFound(title="no such image", headers={"Cache-Control": "no-store"})
        req.context.outcome = f"{kind} {entity_id} {variant}: {len(image.content)} bytes"
        _cacheable(resp, etag, modified)
        resp.content_type = image.content_type
        if body:
            resp.data = image.content
        else:
            resp.content_length = len(image.content)

    @functools.lru_cache(maxsize=20_000)  # noqa: B019 - one resource lives as long as the app
    def _etag(self, kind: str, entity_id: str, variant: str, version: str) -> str:
        # What a URL serves depends on the URL and, for shaped posters, on
        # whether this s2p can shape (Pillow) and how it does it.
        rendering = "raw"
        if kind == "scene" and poster_shape(variant)[0] != "original" and self._images.shaper.can_shape():
            rendering = f"shaped{RENDER_VERSION}"
        text = f"{kind}/{entity_id}/{variant}/{version}/{rendering}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cacheable(resp: falcon.Response, etag: str, modified: int | None) -> None:
    # Only on answers with the picture (or 304): an error must never be cached for a year.
    resp.etag = etag
    resp.cache_control = list(CACHE_CONTROL)
    if modified is not None:
        resp.set_header("Last-Modified", _http_date(modified))


@functools.lru_cache(maxsize=4096)
def _http_date(moment: int) -> str:
    return formatdate(moment, usegmt=True)


def _not_modified(req: falcon.Request, etag: str, modified: int | None) -> bool:
    if req.if_none_match is not None:
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
        return any(tag == "*" or str(tag) == etag for tag in req.if_none_match)
    since = req.get_header("If-Modified-Since")
    if since and modified is not None:
        try:
            return parsedate_to_datetime(since).timestamp() >= modified
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False
