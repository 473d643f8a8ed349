"""The gap report over HTTP, for the people running s2p.

``GET /gaps`` (HTML), ``GET /gaps.json``, ``POST /gaps/{id}/dismiss`` and
``/restore``, ``POST /gaps/dismiss?kind=K`` (every open gap of a kind), ``POST /gaps/run``.  The POST routes answer JSON, or a 303
back to the page when the HTML form sent a ``back`` address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import falcon

from s2p.gaps.records import KINDS
from s2p.gaps.report import to_html
from s2p.gaps.service import GapService, GapsUnavailable
from s2p.gaps.store import STATES, StoreBusy
from s2p.web.errors import BadRequest

HTML_LIMIT = 200
JSON_LIMIT = 1000
MAX_LIMIT = 10000


def _query(req: falcon.Request, default_limit: int) -> dict[str, Any]:
    problems = []
    kinds: list[str] = []
    for value in req.get_param_as_list("kind") or []:
        for kind in value.split(","):
            kind = kind.strip()
            if kind and kind not in KINDS:
                problems.append({"field": "kind", "problem": f"{kind!r} is not one of {', '.join(KINDS)}"})
            elif kind and kind not in kinds:
                kinds.append(kind)
    state = req.get_param("state") or "open"
    if state not in STATES:
        problems.append({"field": "state", "problem": f"{state!r} is not one of {', '.join(STATES)}"})
    numbers = {}
    for name, default, top in (("offset", 0, 10**9), ("limit", default_limit, MAX_LIMIT)):
        raw = req.get_param(name)
        if raw is None:
            numbers[name] = default
        elif not raw.isdigit() or not (0 <= int(raw) <= top) or (name == "limit" and int(raw) == 0):
            problems.append({"field": name, "problem": f"{raw!r} is not a whole number from "
                                                       f"{1 if name == 'limit' else 0} to {top}"})
        else:
            numbers[name] = int(raw)
    if problems:
        raise BadRequest("invalid report query", problems)
    return {"kinds": tuple(kinds) or KINDS, "state": state, **numbers}


def _report(gaps: GapService, req: falcon.Request, default_limit: int) -> dict[str, Any]:
    query = _query(req, default_limit)
    try:
        return gaps.report(**query)
    except GapsUnavailable as exc:
        raise falcon.HTTPServiceUnavailable(title="gap records unavailable", description=str(exc)) from None


class GapsPage:
    """``GET /gaps``: the report as a page."""

    def __init__(self, gaps: GapService):
        self._gaps = gaps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = _report(self._gaps, req, HTML_LIMIT)
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-store"]
        resp.text = to_html(report)
        req.context.outcome = f"{report['total']} {report['state']} gap(s)"


class GapsJson:
    """``GET /gaps.json``: the same report as JSON."""

    def __init__(self, gaps: GapService):
        self._gaps = gaps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = _report(self._gaps, req, JSON_LIMIT)
        resp.media = report
        resp.cache_control = ["no-store"]
        req.context.outcome = f"{report['total']} {report['state']} gap(s)"


def _same_origin(req: falcon.Request) -> None:
    """Refuse a form posted from another site (a page elsewhere must not be
    able to dismiss records in the user's browser)."""
    if (req.get_header("Sec-Fetch-Site") or "").lower() == "cross-site":
        raise falcon.HTTPForbidden(title="cross-site request", description="post from s2p's own page")
    origin = req.get_header("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc.lower() != req.netloc.lower():
        raise falcon.HTTPForbidden(title="cross-site request", description="post from s2p's own page")


def _back(req: falcon.Request) -> str | None:
    back = req.get_param("back")
    if not back:
        return None
    # Only back to the report itself: never an open redirect.
    if not back.startswith("/gaps") or "//" in back or "\\" in back or "\n" in back or "\r" in back:
        raise BadRequest("invalid back address", [{"field": "back", "problem": "must be a /gaps address"}])
    return back


class GapAction:
    """``POST /gaps/{id}/dismiss`` and ``/restore``.  A dismissed gap stays
    hidden until its item changes (Stash's updated_at or Plex's file)."""

    def __init__(self, gaps: GapService):
        self._gaps = gaps

    def on_post(self, req: falcon.Request, resp: falcon.Response, gap_id: int, action: str) -> None:
        if action not in ("dismiss", "restore"):
            raise falcon.HTTPNotFound(title="no such action", description="use dismiss or restore")
        _same_origin(req)
        back = _back(req)
        try:
            gap = self._gaps.set_dismissed(gap_id, action == "dismiss")
        except GapsUnavailable as exc:
            raise falcon.HTTPServiceUnavailable(title="gap records unavailable", description=str(exc)) from None
        except StoreBusy as exc:
            raise falcon.HTTPServiceUnavailable(title="busy", description=str(exc), retry_after=5) from None
        if gap is None:
            req.context.outcome = f"gap {gap_id}: no such record"
            raise falcon.HTTPNotFound(title="no such gap", description=f"there is no gap record {gap_id}")
        req.context.outcome = f"gap {gap_id}: {action}"
        if back:
            raise falcon.HTTPSeeOther(back)
        resp.media = gap


class GapsDismissKind:
    """``POST /gaps/dismiss?kind=K``: dismiss every open gap of one kind."""

    def __init__(self, gaps: GapService):
        self._gaps = gaps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _same_origin(req)
        back = _back(req)
        kind = req.get_param("kind") or ""
        if kind not in KINDS:
            raise BadRequest("invalid kind", [{"field": "kind", "problem": f"{kind!r} is not one of "
                                                                          f"{', '.join(KINDS)}"}])
        try:
            count = self._gaps.dismiss_kind(kind)
        except GapsUnavailable as exc:
            raise falcon.HTTPServiceUnavailable(title="gap records unavailable", description=str(exc)) from None
        except StoreBusy as exc:
            raise falcon.HTTPServiceUnavailable(title="busy", description=str(exc), retry_after=5) from None
        req.context.outcome = f"{count} gap(s) of {kind}: dismissed"
        if back:
            raise falcon.HTTPSeeOther(back)
        resp.media = {"kind": kind, "dismissed": count}


class GapsRun:
    """``POST /gaps/run``: start a comparison now (202; it runs in the background)."""

    def __init__(self, gaps: GapService):
        self._gaps = gaps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _same_origin(req)
        back = _back(req)
        if not self._gaps.plex_configured:
            raise falcon.HTTPConflict(title="Plex not configured",
                                      description="set [plex] url and [plex] token to compare Plex with Stash")
        if not self._gaps.request_run():
            raise falcon.HTTPServiceUnavailable(title="comparisons unavailable",
                                                description=self._gaps.problem or "the scheduler is not running")
        req.context.outcome = "comparison requested"
        if back:
            raise falcon.HTTPSeeOther(back)
        resp.status = falcon.HTTP_202
        resp.media = {"status": "started", "report": "/gaps.json"}
