"""The middleware that feeds ``[debug] capture``: each request Plex sends
(the provider routes and images), as ``ops.capture`` keeps it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import falcon

from s2p.ops.capture import (MAX_BODY, MAX_RAW, RequestCapture, as_sent, body_as_sent, bounded_fields, cut,
                             masked_body, masked_path, masked_query)
from s2p.web.access import OPS, PLUGIN, SecretRoot, route_class

_KEPT_HEADERS = ("USER-AGENT", "HOST", "CONTENT-TYPE", "ACCEPT", "CONTENT-LENGTH")
# Answers up to this size are read for their paging; Plex's pages are far smaller.
_PAGED_ANSWER = 4 * 1024 * 1024


class CaptureRequests:
    def __init__(self, capture: RequestCapture, root: SecretRoot, secrets: list[str] | None = None):
        # ``secrets``: the capture masks with its own (the same settings.secrets()).
        self._capture = capture
        self._root = root
        self._secret = root.prefix[1:]
        self._root_shown = root.shown(root.prefix).lstrip("/") if root.prefix else ""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        if route_class(self._root.route(req.path)) in (OPS, PLUGIN):  # not Plex's requests
            return
        masker = self._capture.masker
        try:
            rendered = resp.render_body() or b""
            size: int | None = len(rendered)
        except Exception:  # the size is a nicety; the answer must not suffer for it
            rendered, size = b"", None
        body, whole = _body(req)
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": req.method,
            "path": cut(self._root.shown(req.path), MAX_RAW),
        }
        for name, raw in (("raw_path", masked_path(_raw_path(req), masker, self._secret, self._root_shown)),
                          ("raw_query", masked_query(req.query_string or "", masker))):
            # Latin-1 text of the bytes as sent: encoding it gives those bytes back.
            record[name] = as_sent(raw[:MAX_RAW].encode("latin-1", "replace"))
            if len(raw) > MAX_RAW:
                record[f"{name}_length"] = len(raw)  # what was sent; the first MAX_RAW are kept
        query, query_left_out = bounded_fields(((n, str(v)) for n, v in req.params.items()), masker)
        headers, headers_left_out = bounded_fields(
            ((n, v) for n, v in req.headers.items() if n.upper().startswith("X-PLEX-") or n.upper() in _KEPT_HEADERS),
            masker)
        record.update({"query": query, "headers": headers})
        if query_left_out or headers_left_out:
            record["fields_left_out"] = {"query": query_left_out, "headers": headers_left_out}
        if body is not None:
            record["body"] = body_as_sent(masked_body(body, masker), whole)
            record["body_bytes"] = whole
        record.update({
            "status": resp.status_code,
            "bytes": size,
            "ms": round(getattr(req.context, "elapsed_ms", 0.0), 1),
            "client": getattr(req.context, "client", None) or req.remote_addr,
        })
        answer = _paging(resp, rendered)
        if answer:
            record["answer"] = answer
        self._capture.add(record)


def _raw_path(req: falcon.Request) -> str:
    """The path as the client wrote it (latin-1 text of its bytes): waitress
    keeps the request target in REQUEST_URI, falcon.testing in RAW_URI."""
    env = req.env
    target = env.get("REQUEST_URI") or env.get("RAW_URI")
    if target:
        return target.split("?", 1)[0]
    # A server that keeps neither: the decoded path, escaped back.
    return env.get("SCRIPT_NAME", "") + quote(env.get("PATH_INFO", ""), safe="/", encoding="latin-1")


def _body(req: falcon.Request) -> tuple[bytes | None, int | None]:
    """The kept prefix of the body as sent and its whole length: what the route
    read (``web.bodies``), else read here from a body no route read."""
    kept = getattr(req.context, "body_raw", None)
    if kept is not None:
        return kept, getattr(req.context, "body_size", None)
    length = req.content_length
    if not length:
        return None, None
    try:
        data = req.bounded_stream.read(MAX_BODY)
    except Exception:  # a body the client never finished
        return None, length
    return data, length


def _paging(resp: falcon.Response, rendered: bytes) -> dict[str, Any] | None:
    """The answer's offset, size and totalSize, when it is a MediaContainer."""
    media = resp.media if isinstance(resp.media, dict) else None
    if media is None and rendered and len(rendered) <= _PAGED_ANSWER and rendered[:1] == b"{":
        try:
            media = json.loads(rendered)
        except ValueError:
            return None
    container = media.get("MediaContainer") if isinstance(media, dict) else None
    if not isinstance(container, dict):
        return None
    found = {k: container[k] for k in ("offset", "size", "totalSize") if isinstance(container.get(k), int)}
    return found or None
