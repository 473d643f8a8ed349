"""Which Plex libraries to look in, found again when they may have changed.

Live sync and push mode look for the Plex items that carry a scene's guid
in the libraries on s2p's agent (or ``[plex] sections``).  Plex's answer to
``/library/sections`` changes: a library is switched to s2p's agent, one is
added, or Plex answers an empty list while it starts.  So the answer is
never kept for the life of the process: it is asked again every ``every``
seconds, after any Plex failure (``failed``), while the last answer named
no library, and when a caller needs an answer newer than some moment
(``items(newer_than=...)``: an edit queued after the last discovery whose
scene Plex seems not to have).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from s2p.config import Settings
from s2p.pms.connect import PlexAuthError, connect, translate_errors
from s2p.pms.items import PlexItems

log = logging.getLogger(__name__)

REDISCOVER_EVERY = 300.0
# While Plex names no library to look in, ask again at most this often.
EMPTY_RETRY = 10.0


class PlexLibraries:
    def __init__(self, connect: Callable[[], Any], identifier: str, sections: list[str] | None = None, *,
                 tv_identifier: str | None = None, every: float = REDISCOVER_EVERY, rescan_after: float = 300.0,
                 user: str = "s2p", clock: Callable[[], float] = time.time):
        self._connect = connect
        self._identifier = identifier
        self._sections = list(sections or [])
        self._tv_identifier = tv_identifier
        self._every = every
        self._rescan_after = rescan_after
        self._user = user  # who looks ("live sync", "artwork push"), for the log
        self._clock = clock
        self._lock = threading.Lock()
        self._plex: Any = None
        self._items: PlexItems | None = None
        self._said: tuple[str, ...] | None = None  # the libraries last logged
        self.discovered_at: float | None = None  # when Plex last answered the list of libraries
        self.found = 0  # libraries that answer named
        self.discoveries = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, user: str) -> "PlexLibraries":
        """The libraries of the configured Plex, on s2p's agents (or ``[plex] sections``)."""
        return cls(lambda: connect(settings.plex, settings.state_dir), settings.provider.identifier,
                   settings.plex.sections, tv_identifier=settings.tv_identifier if settings.tv.enabled else None,
                   user=user)

    @property
    def plex(self) -> Any:
        """The plexapi server of the current connection (after ``items``)."""
        return self._plex

    def confirmed(self, since: float) -> bool:
        """Whether a discovery at or after ``since`` named at least one
        library: then a scene not found there is truly not in Plex."""
        return self.found > 0 and self.discovered_at is not None and self.discovered_at >= since

    def items(self, *, newer_than: float | None = None) -> PlexItems:
        """The guid finder over the current libraries, rediscovered first when due.
        Raises a ``PlexError`` (safe to show) when Plex cannot be asked."""
        with self._lock:
            now = self._clock()
            last = self.discovered_at
            due = (self._items is None or last is None or now - last >= self._every
                   or (self.found == 0 and now - last >= EMPTY_RETRY)
                   or (newer_than is not None and last < newer_than))
            if due:
                self._discover(now)
            assert self._items is not None
            return self._items

    def _discover(self, now: float) -> None:
        try:
            if self._plex is None:
                self._plex = self._connect()
            items = PlexItems(self._plex, self._identifier, self._sections, rescan_after=self._rescan_after,
                              tv_identifier=self._tv_identifier)
            sections = items.sections()
        except Exception as exc:
            self._plex = self._items = None
            raise translate_errors(exc, "listing Plex's libraries") from None
        self._items = items
        self.discovered_at = now
        self.found = len(sections)
        self.discoveries += 1
        names = tuple(sorted(f"{getattr(s, 'title', '?')!r} ({getattr(s, 'key', '?')})" for s in sections))
        if names != self._said:
            self._said = names
            if names:
                log.info("%s looks in the Plex libraries %s", self._user, ", ".join(names))
            else:
                log.warning("%s: Plex names no library to look in (none on s2p's agent, or [plex] sections "
                            "matches none); edits wait and Plex is asked again", self._user)

    def failed(self) -> None:
        """A Plex call failed: connect and discover afresh next time."""
        with self._lock:
            self._plex = self._items = None

    def explain(self, exc: Exception, doing: str) -> tuple[str, bool]:
        """A failure in words safe to log, and whether a person must fix
        something (a refused token) rather than wait."""
        error = translate_errors(exc, doing)
        return str(error), isinstance(error, PlexAuthError)
