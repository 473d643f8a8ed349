"""Routes for the people running s2p (health)."""

from __future__ import annotations

import time

import falcon

from .. import __version__


class Health:
    """``GET /healthz``: is s2p up, and can it reach Stash?"""

    def __init__(self, health):
        self._health = health

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self._health()
        resp.media = report
        resp.status = falcon.HTTP_200 if report["status"] != "down" else falcon.HTTP_503
        req.context.outcome = report["status"]
