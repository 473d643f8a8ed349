"""Every error leaves as JSON; no stack trace ever reaches a client."""

from __future__ import annotations

import json
import logging

import falcon

from ..stash.errors import StashError

log = logging.getLogger("s2p.web")


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


def handle_stash_error(req: falcon.Request, resp: falcon.Response, exc: StashError, params) -> None:
    # Reached only where a route does not answer Stash trouble itself.
    log.warning("%s %s: Stash unavailable: %s", req.method, _shown_path(req), exc)
    raise falcon.HTTPServiceUnavailable(
        title="Stash unavailable", description=str(exc), retry_after=10
    )


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    log.exception("%s %s failed unexpectedly", req.method, _shown_path(req))
    req.context.outcome = f"error: {type(exc).__name__}"
    raise falcon.HTTPInternalServerError(title="internal error", description="see s2p's log for details")


def _shown_path(req: falcon.Request) -> str:
    # The access middleware sets the path without the secret root.
    return getattr(req.context, "path", None) or "(path withheld)"
