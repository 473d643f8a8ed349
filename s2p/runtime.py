"""The composition root: every service built once from the settings."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

import requests

from . import __version__, collectors
from .artwork.push import ArtworkPusher
from .artwork.service import ImageService
from .artwork.shape import PosterShaper
from .artwork.signing import ImageSigner
from .cache import TTLCache
from .config import Settings
from .deadline import Deadline
from .health import OK, Fact, HealthRegistry
from .gaps.service import GapService
from .index import SceneIndex
from .index import summary as index_summary
from .indexsource import IndexSource
from .localfiles import LocalFiles
from .matching import CachedMatcher, Matcher, MatchOutcome, StashSource
from .metrics import MetricsRegistry
from .plex.translate import TranslateOptions
from .scenes import SceneStore
from .scheduler import Scheduler
from .stash.api import StashAPI
from .stash.client import StashClient
from .stash.errors import StashError
from .stash.models import SceneSummary, StashVersion

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
        self.index: SceneIndex | None = None
        self.source = self.stash_source = StashSource(self.stash, self.scenes)
        if settings.index.enabled:
            self.index = SceneIndex(self.stash, self.path_map, settings.index)
            self.source = IndexSource(self.index, self.stash_source, miss_ttl=settings.index.refresh_interval,
                                      on_stale=self._index_is_stale)
        self.local_files = LocalFiles(settings.match.media_roots) if settings.match.media_roots else None
        self.matcher = Matcher(self.source, self.path_map, settings.match, settings.provider.identifier,
                               self.local_files)
        # Plex's match route answers through a short-lived cache; explanations
        # (s2p match, /debug/match) always run the cascade afresh.
        self.cached_matcher = CachedMatcher(
            self.matcher, enabled=settings.cache.enabled,
            generation=(lambda: self.index.generation) if self.index is not None else (lambda: 0))
        self.images = ImageService(self.stash, self.scenes, settings.cache,
                                   PosterShaper(settings.artwork.poster, settings.artwork.crop_anchor))
        # Hooks for what a request did (gap records, sync times).
        self.match_observers: list[Callable[[MatchOutcome], None]] = [self._prefetch_decided]
        self.served_observers: list[Callable[[str], None]] = []
        # Told (route, method, status, seconds) after every HTTP request.
        self.request_observers: list[Callable[[str, str, int, float], None]] = []
        # Periodic jobs register here; the thread starts with start().
        self.scheduler = Scheduler()
        # Gap records: what Plex scans and fetches, and the full comparison.
        self.gaps = GapService.build(
            settings, stash=self.stash, path_map=self.path_map,
            version_of=lambda scene_id: getattr(self.scenes.cache.peek(scene_id), "updated_at", None),
            index_inventory=self._indexed_scenes if self.index is not None else None)
        self.match_observers.append(self.gaps.observe_match)
        self.served_observers.append(self.gaps.observe_served)
        self.started_at = time.time()
        self._probe: TTLCache[tuple[bool, str]] = TTLCache(1, HEALTH_PROBE_TTL)
        # /metrics and /healthz: components register what they report.
        self.metrics = MetricsRegistry()
        self.health_checks = HealthRegistry()
        collectors.install(self)
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
        pusher = self.pusher
        self.health_checks.register("artwork_push", lambda: Fact(OK, {"queued": pusher.queue.pending(),
                                                                      "uploaded": pusher.uploads}))
        # first_delay 0: work queued before a restart resumes at once.
        self.scheduler.add("artwork-push", self.pusher.poll_interval, self.pusher.run_due, first_delay=0)

    def start(self) -> None:
        """Start background work (none of it needs Stash to be up)."""
        if self.index is not None:
            self.index.schedule(self.scheduler)  # the first load runs at once, in the background
        if self.gaps.open():
            self.gaps.schedule(self.scheduler)
        self.scheduler.start()

    def stop(self) -> None:
        if self.index is not None:
            self.index.stop()
        self.scheduler.stop()
        self.scenes.close()
        if self.pusher is not None:
            self.pusher.close()
        self.gaps.stop()
        if self.local_files is not None:
            self.local_files.close()
        self.client.close()

    def _prefetch_decided(self, outcome: MatchOutcome) -> None:
        # Plex asks for the metadata of a matched item next: warm the cache.
        if outcome.decision is not None:
            self.scenes.prefetch(outcome.decision.scene.id)

    def _indexed_scenes(self) -> Iterable[SceneSummary] | None:
        """Every scene in the index (a comparison then costs Stash nothing),
        or ``None`` while the index is not loaded."""
        if self.index is None or self.index.snapshot() is None:
            return None
        # Catch up first (one query for what changed), so a scene edited since
        # the last scheduled refresh is seen as stale now.
        self.index.refresh()
        snapshot = self.index.snapshot()
        return (index_summary(record) for record in list(snapshot.scenes.values()))

    def _index_is_stale(self) -> None:
        if self.settings.index.refresh_interval > 0:
            self.scheduler.trigger("index-refresh")

    def stash_version(self, timeout: float | None = None) -> StashVersion:
        return self.stash.version(deadline=Deadline(timeout or self.settings.stash.timeout))

    def caches(self) -> dict[str, TTLCache]:
        return {"scenes": self.scenes.cache, "matches": self.cached_matcher.cache, **self.images.caches()}

    def stash_reachable(self) -> tuple[bool, str]:
        """(reachable, version or reason), probed at most every 15 s."""

        def probe() -> tuple[bool, str]:
            try:
                version = self.stash_version(timeout=min(5.0, self.settings.stash.timeout))
            except StashError as exc:
                # The reason goes to /healthz: the key says where, the URL stays out.
                return False, str(exc).replace(self.settings.stash.url, "[stash] url")
            return True, version.version or "unknown"

        return self._probe.get_or_load("stash", probe)

    def health(self) -> dict:
        """The /healthz report: the worst component decides the status."""
        status, parts = self.health_checks.report()
        return {
            "status": status,
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            **parts,
        }
