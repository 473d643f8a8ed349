"""The composition root: every component built once from the settings, in one place.

``build_core`` makes what any command needs to read Stash and match files
(``s2p match``, ``s2p gaps``, ``s2p check``); ``build`` makes the server's
``Runtime``: the core, the match services, metadata, artwork, gap records,
the optional features (TV, push, sync, capture) as explicit fields, the
scheduler, metrics and health, with every observer and periodic job
attached.  ``Runtime.serving`` is the one start-up and stop order, shared by
``s2p serve``, ``s2p demo`` and the tests.  Nothing below this package
imports it: components receive their collaborators here.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import requests

from s2p import __version__
from s2p.app import collectors
from s2p.app.stashplugin import StashPlugin, build_stash_plugin
from s2p.artwork.push import ArtworkPusher, ShowPictures
from s2p.artwork.service import ImageService
from s2p.artwork.shape import PosterShaper
from s2p.artwork.signing import ImageSigner
from s2p.common.cache import TTLCache
from s2p.common.deadline import Deadline
from s2p.config import Settings
from s2p.gaps.service import GapService
from s2p.match.cascade import Matcher, MatchOutcome, SceneSource
from s2p.match.localfiles import LocalFiles
from s2p.match.service import MatchService, MovieMatches
from s2p.match.sources import IndexSource, StashSource
from s2p.metadata.service import MetadataService
from s2p.ops.capture import RequestCapture
from s2p.ops.health import OK, Fact, HealthRegistry
from s2p.ops.metrics import MetricsRegistry
from s2p.ops.scheduler import Scheduler
from s2p.paths.pathmap import PathMap
from s2p.plex.translate import TranslateOptions
from s2p.pms.libraries import PlexLibraries
from s2p.scenes.index import SceneIndex
from s2p.scenes.store import SceneStore
from s2p.stash.api import StashAPI
from s2p.stash.client import StashClient
from s2p.stash.errors import StashError
from s2p.stash.models import StashVersion
from s2p.sync.service import SyncService
from s2p.sync.store import SyncStore
from s2p.tv.catalog import Catalog
from s2p.tv.service import TvOutcome, TvService
from s2p.web.middleware import RequestObserver

log = logging.getLogger(__name__)

HEALTH_PROBE_TTL = 15.0
T = TypeVar("T")


# ---------------------------------------------------------------- the core


@dataclass(frozen=True)
class Core:
    """Stash, its scenes and the match cascade: what every command reads through."""

    settings: Settings
    path_map: PathMap
    client: StashClient
    stash: StashAPI
    scenes: SceneStore
    index: SceneIndex | None
    source: SceneSource
    local_files: LocalFiles | None
    matcher: Matcher

    def stash_version(self, timeout: float | None = None) -> StashVersion:
        return self.stash.version(deadline=Deadline(timeout or self.settings.stash.timeout))

    def stop(self) -> None:
        if self.index is not None:
            self.index.stop()
        self.scenes.close()
        if self.local_files is not None:
            self.local_files.close()
        self.client.close()


def build_core(settings: Settings, *, session: requests.Session | None = None, with_index: bool | None = None,
               on_index_stale: Callable[[], None] = lambda: None) -> Core:
    """``session``: how Stash is reached (the tests give one that reaches a
    stand-in in-process); ``with_index``: match through the scene index
    (default: ``[index] enabled``); ``on_index_stale``: told when a lookup
    found a scene the index lacks."""
    path_map = settings.path_map()
    client = StashClient(settings.stash, session=session)
    stash = StashAPI(client)
    scenes = SceneStore(stash, settings.cache)
    index: SceneIndex | None = None
    stash_source = StashSource(stash, scenes)
    source: SceneSource = stash_source
    if settings.index.enabled if with_index is None else with_index:
        index = SceneIndex(stash, path_map, settings.index)
        source = IndexSource(index, stash_source, miss_ttl=settings.index.refresh_interval, on_stale=on_index_stale)
    local_files = LocalFiles(settings.match.media_roots) if settings.match.media_roots else None
    matcher = Matcher(source, path_map, settings.match, local_files)
    return Core(settings=settings, path_map=path_map, client=client, stash=stash, scenes=scenes, index=index,
                source=source, local_files=local_files, matcher=matcher)


def build_tv(settings: Settings, core: Core, served: list[Callable[[str], None]] | None = None,
             shown: list[Callable[[str], None]] | None = None) -> TvService:
    """The TV provider: the movie provider's scenes and cascade, seen as shows."""
    options = replace(TranslateOptions.from_settings(settings.provider), identifier=settings.tv_identifier)
    catalog = Catalog(core.stash, settings.tv, settings.cache, partial_dates=settings.provider.partial_dates)
    return TvService(catalog, core.scenes, core.matcher, options, min_score=settings.match.min_score,
                     margin=settings.match.margin, served=served, shown=shown)


def build_sync(settings: Settings, core: Core, forget: Callable[[str], None],
               gone: Callable[[str, list[dict[str, Any]]], None] | None = None,
               undelivered: Callable[[str, str], None] | None = None) -> SyncService:
    """Live sync's service; ``forget`` drops what s2p cached of a changed scene."""

    def to_plex(path: str) -> str | None:
        translated = core.path_map.to_plex(path)
        return translated.path if translated else (path if not core.path_map.rules else None)

    return SyncService(settings, core.stash, store=SyncStore(settings.state_dir),
                       plex=PlexLibraries.from_settings(settings, user="live sync"), forget=forget,
                       to_plex=to_plex, gone=gone, undelivered=undelivered, index=core.index)


# ---------------------------------------------------------------- the runtime


@dataclass
class Observers:
    """Hooks told what a request did; ``build`` fills them."""

    match: list[Callable[[MatchOutcome], None]] = field(default_factory=list)
    served: list[Callable[[str], None]] = field(default_factory=list)  # scene ids whose metadata Plex read
    shown: list[Callable[[str], None]] = field(default_factory=list)  # TV show ids whose show or season Plex read
    request: list[RequestObserver] = field(default_factory=list)
    dropped: list[Callable[[str, str], None]] = field(default_factory=list)  # (field, reason) of odd Plex values


class Once(Generic[T]):
    """A value made on first use, once, whichever thread asks first."""

    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value


class StashProbe:
    """Whether Stash answers: (reachable, version or reason), asked at most
    every 15 s, and at once when a request has reached Stash since a failed probe."""

    def __init__(self, core: Core):
        self._core = core
        self._cache: TTLCache[tuple[bool, str, float]] = TTLCache(1, HEALTH_PROBE_TTL)

    def __call__(self) -> tuple[bool, str]:
        settings = self._core.settings

        def probe() -> tuple[bool, str, float]:
            try:
                version = self._core.stash_version(timeout=min(5.0, settings.stash.timeout))
            except StashError as exc:
                # The reason goes to /healthz: the key says where, the URL stays out.
                return False, str(exc).replace(settings.stash.url, "[stash] url"), time.time()
            return True, version.version or "unknown", time.time()

        reachable, said, probed_at = self._cache.get_or_load("stash", probe)
        last_success = self._core.client.stats.last_success
        if not reachable and last_success is not None and last_success > probed_at:
            self._cache.invalidate("stash")  # Stash answered since: it is back, say so now
            reachable, said, probed_at = self._cache.get_or_load("stash", probe)
        return reachable, said


@dataclass(frozen=True)
class Runtime:
    """Everything the server runs, built by ``build`` and handed to ``create_app``."""

    core: Core
    matches: MatchService[MatchOutcome]
    metadata: MetadataService
    images: ImageService
    gaps: GapService
    scheduler: Scheduler
    metrics: MetricsRegistry
    health_checks: HealthRegistry
    observers: Observers
    # Signs image URLs; its key is read from (or made in) the state directory on first use.
    signer: Once[ImageSigner]
    stash_probe: StashProbe
    # Optional features: None when off.
    tv: TvService | None = None  # the TV provider ([tv] enabled)
    tv_matches: MatchService[TvOutcome] | None = None
    pusher: ArtworkPusher | None = None  # push mode ([artwork] push, with [plex] url and token)
    sync: SyncService | None = None  # live sync ([sync] interval, with [plex] url and token)
    capture: RequestCapture | None = None  # [debug] capture: Plex's latest requests
    started_at: float = field(default_factory=time.time)
    stash_plugin: StashPlugin | None = None  # the Stash plugin's source and bridge routes

    # The core's parts, by the names every caller uses.
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def scenes(self) -> SceneStore:
        return self.core.scenes

    @property
    def index(self) -> SceneIndex | None:
        return self.core.index

    @property
    def client(self) -> StashClient:
        return self.core.client

    @property
    def stash(self) -> StashAPI:
        return self.core.stash

    @property
    def matcher(self) -> Matcher:
        return self.core.matcher

    @property
    def path_map(self) -> PathMap:
        return self.core.path_map

    def stash_version(self, timeout: float | None = None) -> StashVersion:
        return self.core.stash_version(timeout)

    # ------------------------------------------------------------ life

    def start(self) -> None:
        """Start background work (none of it needs Stash to be up)."""
        if self.index is not None:
            self.index.schedule(self.scheduler)  # the first load runs at once, in the background
        if self.gaps.open():
            self.gaps.schedule(self.scheduler)
        self.scheduler.start()

    def stop(self) -> None:
        if self.index is not None:
            self.index.stop()  # first: a load waiting to retry wakes now, and the scheduler need not wait for it
        self.scheduler.stop()
        if self.pusher is not None:
            self.pusher.close()
        self.gaps.stop()
        if self.sync is not None:
            self.sync.close()
        self.core.stop()

    def ready(self, timeout: float) -> bool:
        """Wait until the first index load is over (or has failed once): a
        server that says it started answers from the index."""
        if self.index is None:
            return True
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            stats = self.index.stats()
            if stats["ready"] or stats["last_error"]:
                return True
            time.sleep(0.01)
        return False

    @contextmanager
    def serving(self, server: Any) -> Iterator[Runtime]:
        """The one start-up and stop order around a bound waitress server:
        its numbers join /metrics and /healthz, background work starts, and
        everything stops when the block ends."""
        collectors.watch_http_server(self.metrics, self.health_checks, server)
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def run(self, server: Any, announce: Callable[[int], None]) -> int:
        """Serve in the foreground until SIGTERM or Ctrl-C (``s2p serve``, ``s2p demo``)."""

        def stop(signum: int, frame: Any) -> None:  # SIGTERM from systemd or docker stop
            raise SystemExit(0)

        with self.serving(server):
            announce(int(server.effective_port))
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, stop)
            try:
                server.run()
            except KeyboardInterrupt:
                pass
            finally:
                log.info("s2p stopping")
                server.close()
        return 0

    # ------------------------------------------------------------ reports

    def caches(self) -> dict[str, TTLCache[Any]]:
        found: dict[str, TTLCache[Any]] = {"scenes": self.scenes.cache, **self.matches.caches(),
                                           **self.metadata.caches(), **self.images.caches()}
        if self.tv is not None and self.tv_matches is not None:
            found.update(self.tv.catalog.caches())
            found.update(self.tv_matches.caches())
        return found

    def stash_reachable(self) -> tuple[bool, str]:
        return self.stash_probe()

    def health(self) -> dict[str, Any]:
        """The /healthz report: the worst component decides the status."""
        status, parts = self.health_checks.report()
        return {
            "status": status,
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            **parts,
        }


def build(settings: Settings, *, session: requests.Session | None = None, uploads: bool = True) -> Runtime:
    """The server's components, wired.  ``uploads=False``: nothing is ever
    uploaded into Plex (one-off commands)."""
    scheduler = Scheduler()
    metrics, health = MetricsRegistry(), HealthRegistry()
    holder: dict[str, Core] = {}

    def index_is_stale() -> None:
        index = holder["core"].index
        if settings.index.refresh_interval > 0 and index is not None:
            index.stale()
            scheduler.trigger("index-refresh")

    core = holder["core"] = build_core(settings, session=session, on_index_stale=index_is_stale)
    index = core.index
    generation: Callable[[], int] = (lambda: index.generation) if index is not None else (lambda: 0)
    observers = Observers()
    options = TranslateOptions.from_settings(settings.provider)
    matches: MatchService[MatchOutcome] = MatchService(
        MovieMatches(core.matcher, options), observers=observers.match, generation=generation,
        manual_limit=settings.match.manual_limit, enabled=settings.cache.enabled)
    tv = tv_matches = None
    if settings.tv.enabled:
        tv = build_tv(settings, core, served=observers.served, shown=observers.shown)
        tv_matches = MatchService(tv, observers=observers.match, generation=generation,
                                  manual_limit=settings.match.manual_limit, enabled=settings.cache.enabled,
                                  name="tv_matches", label="TV match")
    images = ImageService(core.stash, core.scenes, settings.cache,
                          PosterShaper(settings.artwork.poster, settings.artwork.crop_anchor))
    gaps = GapService.build(
        settings, stash=core.stash, path_map=core.path_map,
        version_of=lambda scene_id: getattr(core.scenes.cache.peek(scene_id), "updated_at", None),
        index_inventory=index.inventory if index is not None else None)

    def forget(scene_id: str) -> None:
        """A scene changed in Stash: drop what was made from it."""
        core.scenes.forget(scene_id)  # the rendered answer goes with the Scene object it was made from
        matches.forget()  # match answers hold scenes; they are kept 60 s at most anyway
        if tv is not None and tv_matches is not None:
            tv.catalog.forget()  # a show's seasons and episodes may have changed
            tv_matches.forget()

    def prefetch_decided(outcome: MatchOutcome) -> None:
        # Plex asks for the metadata of a matched item next: warm the cache.
        if outcome.decision is not None:
            core.scenes.prefetch(outcome.decision.scene.id)

    observers.match += [prefetch_decided, gaps.observe_match]
    observers.served.append(gaps.observe_served)
    plex_ready = bool(settings.plex.url and settings.plex.token.get_secret_value())
    pusher = sync = None
    if settings.pushes_artwork and uploads:
        if plex_ready:
            pusher = _push(settings, images, core.scenes, scheduler, observers, health, tv)
        else:
            log.warning("[artwork] push is on but [plex] url or token is missing: no artwork is uploaded. "
                        "Fix: set [plex] url and token, or [artwork] push = false")
    if uploads and settings.sync.interval > 0 and plex_ready:
        sync = build_sync(settings, core, forget, gone=gaps.observe_gone, undelivered=gaps.observe_undelivered)
        # An entry leaves the queue once Plex has fetched the refreshed metadata.
        observers.served.append(sync.fetched)
        observers.shown.append(sync.fetched_show)
        scheduler.add("sync", sync.interval, sync.cycle, first_delay=min(5.0, sync.interval))
        health.register("sync", lambda: collectors.sync_fact(sync))
        metrics.register(lambda: collectors.sync_families(sync), "sync")
    probe = StashProbe(core)
    stash_plugin = build_stash_plugin(settings, scenes=core.scenes, gaps=gaps, path_map=core.path_map,
                                      explain=matches.explain, sync=sync, scheduler=scheduler, reachable=probe)
    runtime = Runtime(
        core=core, matches=matches, stash_probe=probe, stash_plugin=stash_plugin, tv=tv, tv_matches=tv_matches,
        images=images, gaps=gaps,
        metadata=MetadataService(core.scenes, options, settings.cache, served=observers.served),
        scheduler=scheduler, metrics=metrics, health_checks=health, observers=observers,
        signer=Once(lambda: ImageSigner.from_state_dir(settings.state_dir)),
        pusher=pusher, sync=sync,
        capture=(RequestCapture(settings.state_dir, settings.debug.capture, settings.secrets())
                 if settings.debug.capture else None),
    )
    collectors.install(metrics, health, observers, client=core.client, scenes=core.scenes, index=index, gaps=gaps,
                       scheduler=scheduler, caches=runtime.caches, stash_reachable=runtime.stash_reachable,
                       started_at=runtime.started_at,
                       match_services=lambda: [m for m in (matches, tv_matches) if m is not None])
    return runtime


def _push(settings: Settings, images: ImageService, scenes: SceneStore, scheduler: Scheduler, observers: Observers,
          health: HealthRegistry, tv: TvService | None) -> ArtworkPusher:
    def show_pictures(show_id: str, deadline: Deadline) -> ShowPictures | None:
        show = tv.catalog.show(show_id, deadline) if tv is not None else None
        if tv is None or show is None:
            return None
        listing = tv.catalog.listing(show, deadline)
        return ShowPictures(show.poster_studios(), listing.newest.scene if listing.newest else None,
                            {s.index: s.newest.scene for s in listing.seasons if s.newest})

    pusher = ArtworkPusher.from_settings(settings, images, scenes, stopping=lambda: scheduler.stopping,
                                         shows=show_pictures if tv is not None else None)
    observers.served.append(pusher.enqueue)
    observers.shown.append(pusher.enqueue_show)
    health.register("artwork_push", lambda: Fact(OK, {"queued": pusher.queue.pending(), "uploaded": pusher.uploads,
                                                      **collectors.set_aside(pusher.queue.lost())}))
    # first_delay 0: work queued before a restart resumes at once.
    scheduler.add("artwork-push", pusher.poll_interval, pusher.run_due, first_delay=0)
    return pusher
