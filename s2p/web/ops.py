"""Routes for the people running s2p: health and metrics."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from s2p.ops.metrics import CONTENT_TYPE


class Health:
    """``GET /healthz``: 200 while s2p can do its job (ok or degraded), 503 when down."""

    def __init__(self, health: Callable[[], dict]):
        self._health = health

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self._health()
        resp.media = report
        resp.cache_control = ["no-store"]
        resp.status = falcon.HTTP_200 if report["status"] != "down" else falcon.HTTP_503
        req.context.outcome = report["status"]

    on_head = on_get


class Metrics:
    """``GET /metrics``: the Prometheus text format."""

    def __init__(self, render: Callable[[], str]):
        self._render = render

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.cache_control = ["no-store"]
        resp.text = self._render()
        req.context.outcome = "metrics"
