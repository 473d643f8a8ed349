"""A time budget carried by one Plex request down to every Stash call."""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """Seconds left before a request must answer, on a monotonic clock."""

    __slots__ = ("_end", "_clock")

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._end

    def cap(self, seconds: float) -> float:
        """``seconds``, or less when the budget ends sooner."""
        return min(seconds, self.remaining())
