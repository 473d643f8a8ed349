"""The composition root: every service built once from the settings."""

from __future__ import annotations

import logging
import time
from typing import Callable

import requests

from . import __version__
from .artwork.service import ImageService
from .cache import TTLCache
from .config import Settings
from .deadline import Deadline
from .index import SceneIndex
from .indexsource import IndexSource
from .localfiles import LocalFiles
from .matching import Matcher, MatchOutcome, StashSource
from .plex.translate import TranslateOptions
from .scenes import SceneStore
from .scheduler import Scheduler
from .stash.api import StashAPI
from .stash.client import StashClient
from .stash.errors import StashError
from .stash.models import StashVersion

log = logging.getLogger("s2p")

HEALTH_PROBE_TTL = 15.0


class Services:
    """Everything the app and the CLI commands need, built from one Settings."""

    def __init__(self, settings: Settings, *, session: requests.Session | None = None):
        self.settings = settings
        self.path_map = settings.path_map()
        self.client = StashClient(settings.stash, session=session)
        self.stash = StashAPI(self.client)
        self.scenes = SceneStore(self.stash, settings.cache)
        self.options = TranslateOptions.from_settings(settings.provider)
        self.index: SceneIndex | None = None
        self.source = self.stash_source = StashSource(self.stash, self.scenes)
        if settings.index.enabled:
            self.index = SceneIndex(self.stash, self.path_map, settings.index)
            self.source = IndexSource(self.index, self.stash_source, miss_ttl=settings.index.refresh_interval,
                                      on_stale=self._index_is_stale)
        self.local_files = LocalFiles(settings.match.media_roots) if settings.match.media_roots else None
        self.matcher = Matcher(self.source, self.path_map, settings.match, settings.provider.identifier,
                               self.local_files)
        self.images = ImageService(self.stash, self.scenes, settings.cache)
        # Hooks for what a request did (gap records, sync times).
        self.match_observers: list[Callable[[MatchOutcome], None]] = []
        self.served_observers: list[Callable[[str], None]] = []
        # Periodic jobs register here; the thread starts with start().
        self.scheduler = Scheduler()
        self.started_at = time.time()
        self._probe: TTLCache[tuple[bool, str]] = TTLCache(1, HEALTH_PROBE_TTL)

    def start(self) -> None:
        """Start background work (none of it needs Stash to be up)."""
        if self.index is not None:
            self.index.schedule(self.scheduler)  # the first load runs at once, in the background
        self.scheduler.start()

    def stop(self) -> None:
        if self.index is not None:
            self.index.stop()
        self.scheduler.stop()
        if self.local_files is not None:
            self.local_files.close()
        self.client.close()

    def _index_is_stale(self) -> None:
        if self.settings.index.refresh_interval > 0:
            self.scheduler.trigger("index-refresh")

    def stash_version(self, timeout: float | None = None) -> StashVersion:
        return self.stash.version(deadline=Deadline(timeout or self.settings.stash.timeout))

    def stash_reachable(self) -> tuple[bool, str]:
        """(reachable, version or reason), probed at most every 15 s."""

        def probe() -> tuple[bool, str]:
            try:
                version = self.stash_version(timeout=min(5.0, self.settings.stash.timeout))
            except StashError as exc:
                return False, str(exc)
            return True, version.version or "unknown"

        return self._probe.get_or_load("stash", probe)

    def health(self) -> dict:
        reachable, detail = self.stash_reachable()
        return {
            "status": "ok" if reachable else "degraded",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "stash": {"reachable": reachable, ("version" if reachable else "error"): detail},
        }
