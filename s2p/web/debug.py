"""``GET /debug/match``: the match explanation as JSON (only with ``[debug] enabled``).

It runs the same matcher as Plex's match route, on hints given as query
parameters, and answers the whole outcome: the steps tried and what each
found, the translated path, every candidate with its score and reason, and
the decision.  Nothing is recorded (no gap entries): it is a question, not
a match.
"""

from __future__ import annotations

from typing import Any

import falcon

from s2p.match.service import MatchService
from s2p.ops.capture import RequestCapture
from s2p.plex.hints import match_hints, plex_params, read_flag
from s2p.web.errors import BadRequest
from s2p.web.provider import to_query


class DebugMatch:
    """``?tv=1`` explains the TV provider's match (an episode, show or season) instead."""

    def __init__(self, matches: MatchService[Any], tv: MatchService[Any] | None = None):
        self._matches = matches
        self._tv = tv

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        dropped: list[dict[str, str]] = []  # a person asks here: say what was left out, as Plex would be ignored

        def keep(field: str, reason: str) -> None:
            dropped.append({"field": field, "problem": reason})

        params = {k: v for k, v in req.params.items() if k != "tv"}
        hints = match_hints(None, params, plex_params(req.headers, params, keep), keep)
        tv = self._tv is not None and read_flag(req.get_param("tv"))
        service = self._tv if tv and self._tv is not None else self._matches
        query = to_query(hints, service.identifier)
        if not (query.has_anything or (tv and query.show_title)):
            names = "filename, title, grandparentTitle, parentTitle, guid or ohash" if tv else \
                "filename, title, guid or ohash"
            raise BadRequest(f"give at least one of {names}", [{"field": "query", "problem": "no hints"}, *dropped])
        outcome = service.explain(query, req.context.deadline)
        resp.media = {**outcome.as_dict(), "dropped": dropped}
        if tv:
            req.context.outcome = f"explained (TV): {outcome.decision.describe() if outcome.decision else 'none'}"
        else:
            decided = f"scene {outcome.decision.scene.id} by {outcome.decision.step}" if outcome.decision else "none"
            req.context.outcome = f"explained: {decided}"


class CapturedRequests:
    """``GET /debug/requests`` (with ``[debug] capture``): Plex's latest requests, secrets masked."""

    def __init__(self, capture: RequestCapture):
        self._capture = capture

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        records = self._capture.records()
        resp.media = {"limit": self._capture.limit, "count": len(records), "requests": records}
        req.context.outcome = f"{len(records)} captured request(s)"
