"""Jittered exponential backoff, one rule for every retry in s2p (Stash
requests, artwork uploads, live sync's refreshes).

Attempt n waits a random 50-100% of ``base * 2^(n-1)``, at most ``cap``:
the wait never exceeds the cap (so a budget can count on it), and waiters
that failed together spread out instead of retrying in step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


_SYSTEM = random.SystemRandom()


@dataclass(frozen=True)
class Backoff:
    base: float = 30.0
    cap: float = 3600.0
    attempts: int = 10  # tries in all before giving up (owners that never give up ignore it)

    def delay(self, attempt: int, rng: Callable[[], float] | None = None) -> float:
        """The wait after the ``attempt``-th failure (1 for the first)."""
        full = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        # Jitter from the OS: the random module's shared state belongs to whoever seeded it.
        return full * (0.5 + (rng or _SYSTEM.random)() / 2)

    def gives_up(self, attempt: int) -> bool:
        """Whether ``attempt`` failures are all the tries there are."""
        return attempt >= self.attempts
