"""Reading request bodies within limits."""

from __future__ import annotations

import json
from typing import Any, Iterable

import falcon

from s2p.ops.capture import MAX_BODY
from s2p.web.errors import BadRequest

# Plex's match bodies are one flat object; anything nested deeper than this
# is not from Plex.
MAX_JSON_DEPTH = 20


def read_text(req: falcon.Request, limit: int) -> str | None:
    """The body as text (``None`` when empty), within ``limit``: 413 or 400 otherwise."""
    length = req.content_length
    if length is not None and length > limit:
        _keep(req, req.bounded_stream.read(MAX_BODY), length)
        raise falcon.HTTPContentTooLarge(title="body too large", description=f"the limit is {limit} bytes")
    raw = req.bounded_stream.read(limit + 1)
    _keep(req, raw, length if length is not None else len(raw))
    if len(raw) > limit:
        raise falcon.HTTPContentTooLarge(title="body too large", description=f"the limit is {limit} bytes")
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    req.context.body_text = text  # for [debug] capture, and the match route's answers kept
    return text


def _keep(req: falcon.Request, raw: bytes, size: int) -> None:
    # The first bytes as sent, refused or not, for [debug] capture.
    req.context.body_raw = raw[:MAX_BODY]
    req.context.body_size = size


def parse_json(text: str | None) -> Any:
    """A body read by ``read_text`` as JSON: 400 when it is not JSON (or nested too deep)."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError:  # e.g. an integer of more digits than Python converts
        raise BadRequest("the body is not valid JSON: a value is out of range") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _bounded_int(text: str) -> Any:
    # Valid JSON, but more digits than any hint needs (or Python converts):
    # read as infinity, which the hint's validation drops.
    return int(text) if len(text) <= 30 else float("inf")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest
