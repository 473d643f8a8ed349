"""A circuit breaker in front of Stash.

After ``failures`` consecutive failures (timeouts, refused connections, 5xx)
the circuit opens: requests fail at once for ``cooldown`` seconds instead of
each waiting for a timeout, which keeps Plex's scan moving and gives a
struggling Stash room to recover.  Then one probe is let through; its success
closes the circuit, its failure opens it for another cool-down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from s2p.stash.errors import StashUnavailable

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self._cause = ""
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._current()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            state = self._current()
            retry_in = max(0.0, self._opened_at + self._cooldown - self._clock()) if state == OPEN else 0.0
            return {"state": state, "consecutive_failures": self._consecutive,
                    "times_opened": self.times_opened, "retry_in_seconds": round(retry_in, 1)}

    def before_request(self) -> None:
        """Raise ``StashUnavailable`` at once when the circuit does not let
        this request through."""
        with self._lock:
            state = self._current()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._probing:
                self._probing = True
                return
            retry_in = max(0.0, self._opened_at + self._cooldown - self._clock())
            cause = f" (last: {self._cause})" if self._cause else ""
        raise StashUnavailable(
            f"Stash failed {self._threshold} times in a row{cause}; not asking it again for {retry_in:.0f}s"
            if state == OPEN else "Stash is being probed after failures; not asking it meanwhile"
        )

    def record_success(self) -> None:
        with self._lock:
            if self._state != CLOSED:
                log.info("Stash answers again: circuit closed")
            self._state = CLOSED
            self._consecutive = 0
            self._probing = False

    def record_failure(self, cause: str = "") -> None:
        """``cause``: what the failure was, safe to show (said when the circuit opens)."""
        with self._lock:
            self._cause = cause or self._cause
            self._consecutive += 1
            state = self._current()
            if state == HALF_OPEN or (state == CLOSED and self._consecutive >= self._threshold):
                self._state = OPEN
                self._opened_at = self._clock()
                self._probing = False
                self.times_opened += 1
                # The cause and its fix in the warning itself: it is often the first one a user sees.
                log.warning("Stash failed %d times in a row%s: circuit open for %.0fs (requests answer at once "
                            "without asking Stash). %s", self._consecutive,
                            f" (last: {self._cause})" if self._cause else "", self._cooldown,
                            fix_for(self._cause))

    def record_neutral(self) -> None:
        """The request ended without telling anything about Stash's health
        (e.g. a GraphQL error); a probe slot it held is released."""
        with self._lock:
            self._probing = False

    def _current(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self._cooldown:
            self._state = HALF_OPEN
            self._probing = False
        return self._state


def fix_for(cause: str) -> str:
    """What to do about a Stash failure, from its description."""
    if "did not answer" in cause or "did not finish" in cause:
        return "Fix: Stash is slow or busy; check it, or raise [stash] timeout (S2P_STASH_TIMEOUT)"
    return "Fix: start Stash, or set [stash] url (S2P_STASH_URL) to its address as seen from here"
