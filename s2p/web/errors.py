"""Every error leaves as JSON; no stack trace ever reaches a client."""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

from s2p.stash.errors import StashError
from s2p.web.access import OPS, PUBLIC, route_class

log = logging.getLogger(__name__)


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    if getattr(req.context, "outcome", None) is None:
        req.context.outcome = exc.title or "error"
    body = {"error": exc.title or "error", "status": exc.status_code}
    if exc.description:
        body["detail"] = exc.description
    problems = getattr(exc, "problems", None)
    if problems:
        body["problems"] = problems
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(body)


class BadRequest(falcon.HTTPBadRequest):
    def __init__(self, description: str, problems: list[dict[str, str]] | None = None):
        super().__init__(title="bad request", description=description)
        self.problems = problems


def handle_stash_error(req: falcon.Request, resp: falcon.Response, exc: StashError, params: dict[str, Any]) -> None:
    """Stash could not be asked in time, on any route: ``503``, and the
    request's log line says what was being done."""
    doing = getattr(req.context, "outcome", None)
    req.context.outcome = f"{doing}: Stash unavailable ({exc})" if doing else f"Stash unavailable ({exc})"
    # The reason (which may name Stash's address) stays in the log and in
    # /healthz for the operator; Plex and the internet are told no more
    # than that Stash cannot be asked now.
    if route_class(req.path) == PUBLIC:
        raise falcon.HTTPServiceUnavailable(title="Stash unavailable", description="try again later",
                                            retry_after=10, headers={"Cache-Control": "no-store"})
    if route_class(req.path) == OPS:
        raise falcon.HTTPServiceUnavailable(title="Stash unavailable", description=str(exc), retry_after=10)
    raise falcon.HTTPServiceUnavailable(title="Stash unavailable",
                                        description="Stash cannot be asked now; try again later (s2p's log "
                                                    "and /healthz say why)", retry_after=10)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    log.exception("%s %s failed unexpectedly", req.method, _shown_path(req))
    req.context.outcome = f"error: {type(exc).__name__}"
    raise falcon.HTTPInternalServerError(title="internal error", description="see s2p's log for details")


def _shown_path(req: falcon.Request) -> str:
    # The access middleware sets the path without the secret root.
    return getattr(req.context, "path", None) or "(path withheld)"
