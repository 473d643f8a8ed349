"""The middleware that feeds ``[debug] capture``: each request Plex sends
(the provider routes and images), as ``ops.capture`` keeps it."""

from __future__ import annotations

import time

import falcon

from s2p.ops.capture import MAX_BODY, RequestCapture, clean
from s2p.web.access import OPS, PLUGIN, SecretRoot, route_class


class CaptureRequests:
    def __init__(self, capture: RequestCapture, root: SecretRoot, secrets: list[str]):
        self._capture = capture
        self._root = root
        self._secrets = secrets

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        path = self._root.shown(req.path)
        if route_class(self._root.route(req.path)) in (OPS, PLUGIN):  # not Plex's requests
            return
        body = getattr(req.context, "body_text", None)
        try:
            size = len(resp.render_body() or b"")
        except Exception:  # the size is a nicety; the answer must not suffer for it
            size = None
        self._capture.add({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": req.method,
            "path": path,
            "query": {name: clean(name, str(value), self._secrets) for name, value in req.params.items()},
            "headers": {name: clean(name, value, self._secrets) for name, value in req.headers.items()
                        if name.upper().startswith("X-PLEX-") or name.upper() in ("USER-AGENT", "HOST",
                                                                                    "CONTENT-TYPE", "ACCEPT")},
            "body": body[:MAX_BODY] + ("…" if len(body) > MAX_BODY else "") if body else None,
            "status": resp.status_code,
            "bytes": size,
            "ms": round(getattr(req.context, "elapsed_ms", 0.0), 1),
            "client": getattr(req.context, "client", None) or req.remote_addr,
        })
