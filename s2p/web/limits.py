"""Limits on the request line that apply to every route.

waitress refuses request heads over 256 KiB with its own plain-text answer;
below that, s2p answers oversized or undecodable URLs with JSON errors
before any route runs.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import falcon

from s2p.web.errors import BadRequest

# No URL Plex sends is anywhere near this; a long filename travels in the body.
MAX_QUERY_STRING = 8192


class InputLimits:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.query_string or ""
        if len(query) > MAX_QUERY_STRING:
            req.context.outcome = "query string too long"
            raise falcon.HTTPUriTooLong(title="URI too long",
                                        description=f"the query string is limited to {MAX_QUERY_STRING} bytes")
        # WSGI hands the path over as latin-1 text of the raw bytes; falcon
        # would quietly turn undecodable bytes into U+FFFD.
        path = req.env.get("PATH_INFO", "")
        if path.isascii() and (not query or (query.isascii() and "%" not in query)):
            return  # ASCII is UTF-8: what nearly every request is, known at once
        raw_path = path.encode("latin-1", "replace")
        if not _is_utf8(raw_path):
            req.context.outcome = "path not UTF-8"
            raise BadRequest("the path is not valid UTF-8")
        if not _is_utf8(unquote_to_bytes(query.replace("+", " "))):
            req.context.outcome = "query string not UTF-8"
            raise BadRequest("the query string is not valid UTF-8",
                             [{"field": "query string", "problem": "is not valid UTF-8"}])


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
