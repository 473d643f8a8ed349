"""Per-request bookkeeping: timing and the one log line per request."""

from __future__ import annotations

import logging
import time

import falcon

log = logging.getLogger("s2p.request")

# Routes polled by monitors are logged at DEBUG so they do not drown the log.
QUIET_PREFIXES = ("/healthz", "/metrics")


class RequestLog:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.monotonic()
        req.context.outcome = None

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        elapsed = (time.monotonic() - started) * 1000 if started else 0.0
        req.context.elapsed_ms = elapsed
        # How long s2p itself took, for clients and benchmarks (RFC: Server-Timing).
        resp.set_header("Server-Timing", f"app;dur={elapsed:.2f}")
        outcome = getattr(req.context, "outcome", None) or ("ok" if req_succeeded else "failed")
        level = logging.DEBUG if req.path.startswith(QUIET_PREFIXES) else logging.INFO
        # A resource may log a shorter path (image URLs: without their signature).
        shown = getattr(req.context, "log_path", None) or req.path
        log.log(level, "%s %s %s %s (%.1f ms)", req.method, shown, resp.status.split(" ", 1)[0],
                outcome, elapsed,
                extra={"route": _route(req), "status": resp.status_code, "outcome": outcome,
                       "latency_ms": round(elapsed, 1)})


def _route(req: falcon.Request) -> str:
    template = getattr(req, "uri_template", None)
    return template or req.path
