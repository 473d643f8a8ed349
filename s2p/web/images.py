"""``GET /images/{kind}/{id}/{variant}``: artwork fetched from Stash for Plex."""

from __future__ import annotations

import hashlib
import re

import falcon

from ..artwork.service import ImageService
from ..config import Settings
from ..deadline import Deadline
from ..stash.errors import StashError

_ID = re.compile(r"[0-9]{1,19}")
# Plex stores the URL; the v parameter changes when the image does.
CACHE_CONTROL = "public, max-age=604800"


class ImageResource:
    def __init__(self, settings: Settings, images: ImageService):
        self._settings = settings
        self._images = images

    def on_get(self, req: falcon.Request, resp: falcon.Response, kind: str, entity_id: str, variant: str) -> None:
        if not _ID.fullmatch(entity_id) or not self._images.known(kind, variant):
            req.context.outcome = "no such image"
            raise falcon.HTTPNotFound(title="no such image")
        try:
            image = self._images.image(kind, entity_id, variant,
                                       deadline=Deadline(self._settings.server.request_budget))
        except StashError as exc:
            # This route is open to the internet: the reason (which names
            # Stash's address) goes to the log, not to the caller.
            req.context.outcome = f"{kind} {entity_id}: Stash unavailable ({exc})"
            raise falcon.HTTPServiceUnavailable(title="Stash unavailable", description="try again later",
                                                retry_after=10) from None
        if image is None:
            req.context.outcome = f"{kind} {entity_id}: no image"
            raise falcon.HTTPNotFound(title="no such image")
        etag = hashlib.sha256(image.content).hexdigest()[:32]
        resp.etag = etag
        resp.cache_control = [CACHE_CONTROL]
        if image.last_modified:
            resp.set_header("Last-Modified", image.last_modified)
        if req.if_none_match and any(tag == "*" or str(tag) == etag for tag in req.if_none_match):
            req.context.outcome = f"{kind} {entity_id} {variant}: not modified"
            resp.status = falcon.HTTP_304
            return
        req.context.outcome = f"{kind} {entity_id} {variant}: {len(image.content)} bytes"
        resp.content_type = image.content_type
        resp.data = image.content
