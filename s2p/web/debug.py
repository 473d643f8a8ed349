"""``GET /debug/match``: the match explanation as JSON (only with ``[debug] enabled``).

It runs the same matcher as Plex's match route, on hints given as query
parameters, and answers the whole outcome: the steps tried and what each
found, the translated path, every candidate with its score and reason, and
the decision.  Nothing is recorded (no gap entries): it is a question, not
a match.
"""

from __future__ import annotations

import falcon

from s2p.match.cascade import Matcher
from s2p.ops.capture import RequestCapture
from s2p.plex.hints import match_hints, plex_params, read_flag
from s2p.tv.service import TvService
from s2p.web.errors import BadRequest


class DebugMatch:
    """``?tv=1`` explains the TV provider's match (an episode, show or season) instead."""

    def __init__(self, matcher: Matcher, tv: TvService | None = None):
        self._matcher = matcher
        self._tv = tv

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        dropped: list[dict[str, str]] = []  # a person asks here: say what was left out, as Plex would be ignored
        keep = lambda field, reason: dropped.append({"field": field, "problem": reason})  # noqa: E731
        params = {k: v for k, v in req.params.items() if k != "tv"}
        hints = match_hints(None, params, plex_params(req.headers, params, keep), keep)
        if self._tv is not None and read_flag(req.get_param("tv")):
            if not (hints.has_anything or hints.show_title):
                raise BadRequest("give at least one of filename, title, grandparentTitle, parentTitle, guid or ohash",
                                 [{"field": "query", "problem": "no hints"}, *dropped])
            found = self._tv.match(hints, req.context.deadline)
            resp.media = {**found.as_dict(), "dropped": dropped}
            req.context.outcome = f"explained (TV): {found.decision.describe() if found.decision else 'none'}"
            return
        if not hints.has_anything:
            raise BadRequest("give at least one of filename, title, guid or ohash",
                             [{"field": "query", "problem": "no hints"}, *dropped])
        outcome = self._matcher.match(hints, req.context.deadline)
        resp.media = {**outcome.as_dict(), "dropped": dropped}
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
