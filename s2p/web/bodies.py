"""Reading request bodies within limits."""

from __future__ import annotations

import json
from typing import Any

import falcon

from .errors import BadRequest


def read_json(req: falcon.Request, limit: int) -> Any:
    """The JSON body, ``None`` when there is none; 413 or 400 otherwise."""
    length = req.content_length
    if length is not None and length > limit:
        raise falcon.HTTPContentTooLarge(title="body too large", description=f"the limit is {limit} bytes")
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise falcon.HTTPContentTooLarge(title="body too large", description=f"the limit is {limit} bytes")
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
