"""Per-request bookkeeping: timing, the one log line per request, and what
request observers (metrics) are told."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import falcon

from s2p.common.deadline import Deadline
from s2p.ops.logs import call_site, escape_controls, quick_record
from s2p.web.access import SecretRoot

log = logging.getLogger(__name__)

# Routes polled by monitors are logged at DEBUG so they do not drown the log.
QUIET_PREFIXES = ("/healthz", "/metrics")

# Falcon's name for a request no route matched; used as the route label so
# that label values stay few whatever paths scanners try.
UNMATCHED = "unmatched"

# The request line's fields that never change, at each level it is logged at.
_SITES = {level: call_site(log, level, __file__, 0, "process_response") for level in (logging.DEBUG, logging.INFO)}

RequestObserver = Callable[[str, str, int, float], None]  # route, method, status, seconds


class RequestLog:
    def __init__(self, root: SecretRoot | None = None, observers: list[RequestObserver] | None = None, *,
                 budget: float = 30.0):
        self._root = root or SecretRoot("")
        self._observers = observers if observers is not None else []
        self._budget = budget

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.monotonic()
        req.context.outcome = None
        # Everything a request does (Stash included) fits in [server] request_budget.
        req.context.deadline = Deadline(self._budget)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if req.method == "OPTIONS":
            _json_options_body(req, resp)
        context = req.context
        started = context.get("started")
        elapsed = (time.monotonic() - started) if started else 0.0
        ms = elapsed * 1000
        context.elapsed_ms = ms
        # How long s2p itself took, for clients and benchmarks (RFC: Server-Timing).
        resp.set_header("Server-Timing", f"app;dur={ms:.2f}")
        outcome = escape_controls(context.get("outcome") or ("ok" if req_succeeded else "failed"))
        route = self._route(req)
        status = resp.status_code
        request_path = req.path
        # A client's path may carry %0a or %00: on one line, whatever reads the record.
        path = escape_controls(context.get("path") or self._root.shown(request_path))
        client = escape_controls(context.get("client") or req.remote_addr or "")
        level = logging.DEBUG if request_path.startswith(QUIET_PREFIXES) else logging.INFO
        if log.isEnabledFor(level):
            fields = {"route": route, "method": req.method, "path": path, "status": status, "outcome": outcome,
                      "latency_ms": round(ms, 1), "client": client}
            for name in ("scene", "score", "step"):
                value = context.get(name)
                if value is not None:
                    fields[name] = value
            log.handle(quick_record(_SITES[level], "%s %s %s %s (%.1f ms) from %s",
                                    (req.method, path, status, outcome, ms, client), fields))
        for observe in self._observers:
            try:
                observe(route, req.method, status, elapsed)
            except Exception:  # bookkeeping must never turn an answer into an error
                log.exception("request observer failed")

    def _route(self, req: falcon.Request) -> str:
        template = getattr(req, "uri_template", None)
        return self._root.route(template) if template else UNMATCHED


def _json_options_body(req: falcon.Request, resp: falcon.Response) -> None:
    # Falcon's default OPTIONS answer is an empty body labelled JSON.
    if (req.method == "OPTIONS" and resp.status_code == 200 and resp.text is None
            and resp.data is None and resp.media is None):
        allow = resp.get_header("Allow") or ""
        resp.media = {"allow": [m.strip() for m in allow.split(",") if m.strip()]}
