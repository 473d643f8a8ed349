"""Health facts from each component, combined into the /healthz report.

A component registers a check: a callable returning a ``Fact`` (its status
and a few numbers).  The overall status is the worst of them:

* ``ok``: everything works;
* ``degraded``: s2p answers Plex, but something is impaired (a background
  job failed, a component reports trouble);
* ``down``: s2p cannot do its job (Stash cannot be reached or refuses s2p).

Facts hold measurements only, never configuration values: /healthz may be
read by more people than the configuration file.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

OK = "ok"
DEGRADED = "degraded"
DOWN = "down"
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}
RESERVED = frozenset({"status", "version", "uptime_seconds"})


@dataclass(frozen=True)
class Fact:
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"{self.status!r} is not one of {sorted(_RANK)}")


Check = Callable[[], Fact]


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


class HealthRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def register(self, name: str, check: Check) -> None:
        if name in RESERVED:
            raise ValueError(f"{name!r} is a field of the report itself")
        with self._lock:
            self._checks[name] = check

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def report(self) -> tuple[str, dict[str, dict[str, Any]]]:
        """(overall status, {component: {"status": ..., details...}})."""
        with self._lock:
            checks = list(self._checks.items())
        parts: dict[str, dict[str, Any]] = {}
        for name, check in checks:
            try:
                fact = check()
            except Exception:  # a broken check says "unknown", never breaks /healthz
                log.exception("health check %s failed", name)
                fact = Fact(DEGRADED, {"error": "the check itself failed; see s2p's log"})
            parts[name] = {"status": fact.status, **fact.details}
        return worst(part["status"] for part in parts.values()), parts
