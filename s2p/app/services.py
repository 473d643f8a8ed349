"""The composition root: every component built once from the settings, in one place.

``build_core`` makes what any command needs to read Stash and match files
(``s2p match``, ``s2p gaps``, ``s2p check``); ``build_services`` adds what the
server runs (caches of answers, artwork, gap records, the scheduler, metrics
and health) and attaches every observer and periodic job.  Nothing below
this package imports it: components receive their collaborators here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Callable

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
from s2p.match.cached import CachedMatcher
from s2p.match.cascade import Matcher, MatchOutcome, SceneSource
from s2p.match.localfiles import LocalFiles
from s2p.match.sources import IndexSource, StashSource
from s2p.metadata.service import MetadataService
from s2p.ops.capture import RequestCapture
from s2p.ops.health import OK, Fact, HealthRegistry
from s2p.ops.metrics import MetricsRegistry, counter, gauge
from s2p.ops.scheduler import Scheduler
from s2p.paths.pathmap import PathMap
from s2p.plex.translate import TranslateOptions
from s2p.pms.connect import connect
from s2p.pms.items import PlexItems
from s2p.scenes.index import SceneIndex
from s2p.scenes.store import SceneStore
from s2p.stash.api import StashAPI
from s2p.stash.client import StashClient
from s2p.stash.errors import StashError
from s2p.stash.models import StashVersion
from s2p.sync.service import SyncService
from s2p.sync.store import SyncStore
from s2p.tv.catalog import Catalog
from s2p.tv.service import TvService
from s2p.web.middleware import RequestObserver

log = logging.getLogger(__name__)

HEALTH_PROBE_TTL = 15.0


@dataclass
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
    """``with_index``: match through the scene index (default: ``[index] enabled``);
    ``on_index_stale``: told when a lookup found a scene the index lacks."""
    path_map = settings.path_map()
    client = StashClient(settings.stash, session=session)
    stash = StashAPI(client)
    scenes = SceneStore(stash, settings.cache)
    index: SceneIndex | None = None
    source: SceneSource = StashSource(stash, scenes)
    if settings.index.enabled if with_index is None else with_index:
        index = SceneIndex(stash, path_map, settings.index)
        source = IndexSource(index, source, miss_ttl=settings.index.refresh_interval, on_stale=on_index_stale)
    local_files = LocalFiles(settings.match.media_roots) if settings.match.media_roots else None
    matcher = Matcher(source, path_map, settings.match, settings.provider.identifier, local_files)
    return Core(settings=settings, path_map=path_map, client=client, stash=stash, scenes=scenes, index=index,
                source=source, local_files=local_files, matcher=matcher)


@dataclass
class Observers:
    """Hooks told what a request did; the wiring fills them."""

    match: list[Callable[[MatchOutcome], None]] = field(default_factory=list)
    served: list[Callable[[str], None]] = field(default_factory=list)  # scene ids whose metadata Plex read
    shown: list[Callable[[str], None]] = field(default_factory=list)  # TV show ids whose show or season Plex read
    request: list[RequestObserver] = field(default_factory=list)
    dropped: list[Callable[[str, str], None]] = field(default_factory=list)  # (field, reason) of odd Plex values


@dataclass
class Services(Core):
    """Everything the server runs: built by ``build_services``, handed to ``create_app``."""

    # Plex's match route answers through a short-lived cache; explanations
    # (s2p match, /debug/match) always run the cascade afresh.
    cached_matcher: CachedMatcher = None  # type: ignore[assignment]
    metadata: MetadataService = None  # type: ignore[assignment]
    images: ImageService = None  # type: ignore[assignment]
    gaps: GapService = None  # type: ignore[assignment]
    scheduler: Scheduler = field(default_factory=Scheduler)
    metrics: MetricsRegistry = field(default_factory=MetricsRegistry)
    health_checks: HealthRegistry = field(default_factory=HealthRegistry)
    observers: Observers = field(default_factory=Observers)
    pusher: ArtworkPusher | None = None
    sync: SyncService | None = None  # live sync ([sync], with [plex] url and token)
    capture: RequestCapture | None = None  # [debug] capture: Plex's latest requests
    tv: TvService | None = None  # the TV provider ([tv] enabled)
    stash_plugin: StashPlugin | None = None  # the Stash plugin's source and the routes its bridge calls
    started_at: float = field(default_factory=time.time)
    _probe: TTLCache[tuple[bool, str, float]] = field(default_factory=lambda: TTLCache(1, HEALTH_PROBE_TTL))
    _signer: ImageSigner | None = None
    _signer_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def signer(self) -> ImageSigner:
        """Signs image URLs; its key is read from (or made in) the state
        directory on first use, not at construction."""
        with self._signer_lock:
            if self._signer is None:
                self._signer = ImageSigner.from_state_dir(self.settings.state_dir)
            return self._signer

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
        if self.pusher is not None:
            self.pusher.close()
        self.gaps.stop()
        if self.sync is not None:
            self.sync.close()
        super().stop()

    def caches(self) -> dict[str, TTLCache]:
        return {"scenes": self.scenes.cache, "matches": self.cached_matcher.cache, **self.metadata.caches(),
                **self.images.caches(), **(self.tv.catalog.caches() if self.tv is not None else {})}

    def stash_reachable(self) -> tuple[bool, str]:
        """(reachable, version or reason), probed at most every 15 s, and at
        once when a request has reached Stash since a failed probe."""

        def probe() -> tuple[bool, str, float]:
            try:
                version = self.stash_version(timeout=min(5.0, self.settings.stash.timeout))
            except StashError as exc:
                # The reason goes to /healthz: the key says where, the URL stays out.
                return False, str(exc).replace(self.settings.stash.url, "[stash] url"), time.time()
            return True, version.version or "unknown", time.time()

        reachable, said, probed_at = self._probe.get_or_load("stash", probe)
        last_success = self.client.stats.last_success
        if not reachable and last_success is not None and last_success > probed_at:
            self._probe.invalidate("stash")  # Stash answered since: it is back, say so now
            reachable, said, probed_at = self._probe.get_or_load("stash", probe)
        return reachable, said

    def health(self) -> dict:
        """The /healthz report: the worst component decides the status."""
        status, parts = self.health_checks.report()
        return {
            "status": status,
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            **parts,
        }


def build_services(settings: Settings, *, session: requests.Session | None = None,
                   uploads: bool = True) -> Services:
    """The server's components, wired.  ``uploads=False``: nothing is ever
    uploaded into Plex (one-off commands)."""
    scheduler = Scheduler()

    def index_is_stale() -> None:
        if settings.index.refresh_interval > 0 and core.index is not None:
            core.index.stale()
            scheduler.trigger("index-refresh")

    core = build_core(settings, session=session, on_index_stale=index_is_stale)
    index = core.index
    observers = Observers()
    services = Services(
        **{f.name: getattr(core, f.name) for f in fields(Core)},
        cached_matcher=CachedMatcher(core.matcher, enabled=settings.cache.enabled,
                                     generation=(lambda: index.generation) if index is not None else (lambda: 0)),
        metadata=MetadataService(core.scenes, TranslateOptions.from_settings(settings.provider), settings.cache,
                                 served=observers.served),
        images=ImageService(core.stash, core.scenes, settings.cache,
                            PosterShaper(settings.artwork.poster, settings.artwork.crop_anchor)),
        gaps=GapService.build(
            settings, stash=core.stash, path_map=core.path_map,
            version_of=lambda scene_id: getattr(core.scenes.cache.peek(scene_id), "updated_at", None),
            index_inventory=index.inventory if index is not None else None),
        scheduler=scheduler,
        observers=observers,
        capture=(RequestCapture(settings.state_dir, settings.debug.capture, settings.secrets())
                 if settings.debug.capture else None),
    )

    if settings.tv.enabled:
        services.tv = build_tv(settings, core, services.cached_matcher, served=observers.served,
                               shown=observers.shown)

    def prefetch_decided(outcome: MatchOutcome) -> None:
        # Plex asks for the metadata of a matched item next: warm the cache.
        if outcome.decision is not None:
            core.scenes.prefetch(outcome.decision.scene.id)

    observers.match += [prefetch_decided, services.gaps.observe_match]
    observers.served.append(services.gaps.observe_served)
    collectors.install(services.metrics, services.health_checks, observers, client=core.client,
                       scenes=core.scenes, index=index, gaps=services.gaps, scheduler=scheduler,
                       caches=services.caches, stash_reachable=services.stash_reachable,
                       started_at=services.started_at)
    if settings.pushes_artwork and uploads:
        _enable_push(services)
    if uploads and settings.sync.interval > 0 and settings.plex.url and settings.plex.token.get_secret_value():
        _enable_sync(services)
    services.stash_plugin = build_stash_plugin(services)  # after live sync: the plugin queues refreshes there
    return services


def build_tv(settings: Settings, core: Core, matcher: CachedMatcher,
             served: list[Callable[[str], None]] | None = None,
             shown: list[Callable[[str], None]] | None = None) -> TvService:
    """The TV provider: the movie provider's scenes and cascade, seen as shows."""
    options = replace(TranslateOptions.from_settings(settings.provider), identifier=settings.tv_identifier)
    catalog = Catalog(core.stash, settings.tv, settings.cache, partial_dates=settings.provider.partial_dates)
    return TvService(catalog, core.scenes, matcher, options, min_score=settings.match.min_score,
                     margin=settings.match.margin, served=served, shown=shown)


def build_sync(settings: Settings, core: Core, forget: Callable[[str], None],
               gone: Callable[[str, list[dict]], None] | None = None) -> SyncService:
    """Live sync's service; ``forget`` drops what s2p cached of a changed scene."""
    connection: dict[str, PlexItems] = {}

    def items() -> PlexItems:
        # One connection and one guid map for the service's life (rebuilt after a failure).
        if "items" not in connection:
            plex = connect(settings.plex, settings.state_dir)
            connection["items"] = PlexItems(plex, settings.provider.identifier, settings.plex.sections,
                                            tv_identifier=settings.tv_identifier if settings.tv.enabled else None)
        return connection["items"]

    def to_plex(path: str) -> str | None:
        translated = core.path_map.to_plex(path)
        return translated.path if translated else (path if not core.path_map.rules else None)

    return SyncService(settings, core.stash, store=SyncStore(settings.state_dir), items=items, forget=forget,
                       to_plex=to_plex, gone=gone, index=core.index)


def _enable_sync(services: Services) -> None:
    def forget(scene_id: str) -> None:
        services.scenes.forget(scene_id)  # the rendered answer goes with the Scene object it was made from
        services.cached_matcher.cache.clear()  # match outcomes hold scenes; they are kept 60 s at most anyway
        if services.tv is not None:
            services.tv.catalog.forget()  # a show's seasons and episodes may have changed

    sync = build_sync(services.settings, services, forget, gone=services.gaps.observe_gone)
    services.sync = sync
    services.scheduler.add("sync", sync.interval, sync.cycle, first_delay=min(5.0, sync.interval))
    services.health_checks.register("sync", lambda: Fact(OK, {"cycles": sync.cycles, "queued": sync.store.pending(),
                                                              "last": sync.last.as_dict() if sync.last else None}))
    services.metrics.register(lambda: [
        counter("s2p_sync_cycles_total", "Live sync cycles run", sync.cycles),
        counter("s2p_sync_refreshes_total", "Plex items asked to refresh because their scene changed in Stash",
                sync.refreshed_total),
        counter("s2p_sync_failures_total", "Refreshes that failed and were retried later", sync.failures_total),
        counter("s2p_sync_scans_total", "Folders Plex was asked to scan for a new Stash file", sync.scans_total),
        gauge("s2p_sync_queued", "Scenes waiting for their Plex refresh", sync.store.pending()),
        gauge("s2p_sync_last_changed", "Scenes the last cycle found changed", sync.last.changed if sync.last else 0),
    ], "sync")


def _enable_push(services: Services) -> None:
    settings = services.settings
    plex = settings.plex
    if not plex.url or not plex.token.get_secret_value():
        log.warning("[artwork] push is on but [plex] url or token is missing: no artwork is uploaded")
        return
    scheduler = services.scheduler
    tv = services.tv

    def show_pictures(show_id: str, deadline: Deadline) -> ShowPictures | None:
        show = tv.catalog.show(show_id, deadline) if tv is not None else None
        if show is None:
            return None
        listing = tv.catalog.listing(show, deadline)
        return ShowPictures(show.poster_studios(), listing.newest.scene if listing.newest else None,
                            {s.index: s.newest.scene for s in listing.seasons if s.newest})

    pusher = ArtworkPusher.from_settings(settings, services.images, services.scenes,
                                         stopping=lambda: scheduler.stopping,
                                         shows=show_pictures if tv is not None else None)
    services.pusher = pusher
    services.observers.served.append(pusher.enqueue)
    services.observers.shown.append(pusher.enqueue_show)
    services.health_checks.register("artwork_push", lambda: Fact(OK, {"queued": pusher.queue.pending(),
                                                                       "uploaded": pusher.uploads}))
    # first_delay 0: work queued before a restart resumes at once.
    scheduler.add("artwork-push", pusher.poll_interval, pusher.run_due, first_delay=0)

