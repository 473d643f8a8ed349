"""Match outcomes kept a short while: what Plex's match route answers through."""

from __future__ import annotations

from typing import Callable

from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.match.cascade import Matcher, MatchOutcome
from s2p.plex.hints import MatchHints


class CachedMatcher:
    """Match outcomes kept a short while by their hints, so a request Plex
    repeats (a retried scan, Fix Match opened twice) costs nothing.

    Kept briefly, and only while the scene index they were made from stands
    (``generation``): the scenes behind an answer change as Stash does.  An
    outcome with no candidate at all, or one made while Stash could not be
    asked, is not kept: the file may be in Stash a moment later.  Nor is
    one with a crowd of candidates (a file name hundreds of scenes share):
    it holds every one of those scenes, and the index answers it again in
    a few milliseconds."""

    TTL = 60.0
    MAX_KEPT_CANDIDATES = 20
    # Hints that cannot change which scene a file is.
    _IGNORED = frozenset({"language", "country", "client_identifier", "includeAdult"})

    def __init__(self, matcher: Matcher, *, enabled: bool = True, size: int = 5000,
                 generation: Callable[[], int] = lambda: 0):
        self.matcher = matcher
        self.cache: TTLCache[MatchOutcome] = TTLCache(size if enabled else 0, self.TTL)
        self._generation = generation

    def match(self, hints: MatchHints, deadline: Deadline) -> MatchOutcome:
        key = (self._generation(),) + tuple(
            (name, value) for name, value in hints.model_dump().items() if name not in self._IGNORED)
        try:
            return self.cache.get_or_load(key, lambda: self.matcher.match(hints, deadline),
                                          ttl_for=self._ttl_for,
                                          wait=deadline.remaining())
        except TimeoutError:
            return self.matcher.match(hints, deadline)

    @property
    def generation(self) -> int:
        """Changes whenever outcomes kept so far may no longer hold (a new index)."""
        return self._generation()

    def keeps(self, outcome: MatchOutcome) -> bool:
        """Whether an outcome is worth keeping (and so is an answer made from it)."""
        return self.cache.max_weight > 0 and self._ttl_for(outcome) is None

    def _ttl_for(self, outcome: MatchOutcome) -> float | None:
        if outcome.error or not outcome.candidates or len(outcome.candidates) > self.MAX_KEPT_CANDIDATES:
            return 0
        return None
