"""The composition root: every service built once from the settings."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests

from . import __version__
from .artwork.push import ArtworkPusher
from .artwork.service import ImageService
from .artwork.shape import PosterShaper
from .artwork.signing import ImageSigner
from .cache import TTLCache
from .config import Settings
from .deadline import Deadline
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

    def __init__(self, settings: Settings, *, session: requests.Session | None = None, uploads: bool = True):
        self.settings = settings
        self.path_map = settings.path_map()
        self.client = StashClient(settings.stash, session=session)
        self.stash = StashAPI(self.client)
        self.scenes = SceneStore(self.stash, settings.cache)
        self.options = TranslateOptions.from_settings(settings.provider)
        self.source = StashSource(self.stash, self.scenes)
        self.matcher = Matcher(self.source, self.path_map, settings.match, settings.provider.identifier)
        self.images = ImageService(self.stash, self.scenes, settings.cache,
                                   PosterShaper(settings.artwork.poster, settings.artwork.crop_anchor))
        # Hooks for what a request did (gap records, sync times).
        self.match_observers: list[Callable[[MatchOutcome], None]] = [self._prefetch_decided]
        self.served_observers: list[Callable[[str], None]] = []
        # Periodic jobs register here; the thread starts with start().
        self.scheduler = Scheduler()
        self.started_at = time.time()
        self._probe: TTLCache[tuple[bool, str]] = TTLCache(1, HEALTH_PROBE_TTL)
        self._signer: ImageSigner | None = None
        self._signer_lock = threading.Lock()
        self.pusher: ArtworkPusher | None = None
        # uploads=False: a one-off command (s2p match) must not upload into Plex.
        if settings.artwork.push and uploads:
            self._enable_push()

    @property
    def signer(self) -> ImageSigner:
        """Signs image URLs; its key is read from (or made in) the state
        directory on first use, not at construction."""
        with self._signer_lock:
            if self._signer is None:
                self._signer = ImageSigner.from_state_dir(self.settings.state_dir)
            return self._signer

    def _enable_push(self) -> None:
        plex = self.settings.plex
        if not plex.url or not plex.token.get_secret_value():
            log.warning("[artwork] push is on but [plex] url or token is missing: no artwork is uploaded")
            return
        self.pusher = ArtworkPusher.from_settings(self.settings, self.images, self.scenes,
                                                  stopping=lambda: self.scheduler.stopping)
        self.served_observers.append(self.pusher.enqueue)
        # first_delay 0: work queued before a restart resumes at once.
        self.scheduler.add("artwork-push", self.pusher.poll_interval, self.pusher.run_due, first_delay=0)

    def start(self) -> None:
        """Start background work (none of it needs Stash to be up)."""
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.scenes.close()
        if self.pusher is not None:
            self.pusher.close()
        self.client.close()

    def _prefetch_decided(self, outcome: MatchOutcome) -> None:
        # Plex asks for the metadata of a matched item next: warm the cache.
        if outcome.decision is not None:
            self.scenes.prefetch(outcome.decision.scene.id)

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
        report = {
            "status": "ok" if reachable else "degraded",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "stash": {"reachable": reachable, ("version" if reachable else "error"): detail},
        }
        if self.pusher is not None:
            report["artwork_push"] = {"queued": self.pusher.queue.pending(), "uploaded": self.pusher.uploads}
        return report
