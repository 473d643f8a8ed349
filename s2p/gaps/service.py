"""Gap detection as a service: observations from requests, the full
comparison, the report, dismissals and refreshes of stale items.

The web routes, the CLI and the scheduler all come through here.  What
Stash has is read through ``inventory`` (any iterable of scene summaries),
so the comparison can read an in-memory scene index instead of Stash
without changing anything else.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from s2p.config import Settings
from s2p.ops.logs import Redactor
from s2p.ops.scheduler import Scheduler
from s2p.paths.pathmap import PathMap
from s2p.pms.connect import PlexError, PlexNotConfigured
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashError
from s2p.stash.models import SceneSummary
from s2p.gaps import report as reports
from s2p.gaps import store as db
from s2p.gaps.detect import (Comparison, StashScene, SyncTimes, iso, observation, settle_observations,
                             staleness, stash_time)
from s2p.gaps.fingerprint import SectionFiles
from s2p.pms.library import ItemGone, PlexLibrary, choose_sections
from s2p.gaps.records import COMPARED_KINDS, KINDS, MATCHED_ELSEWHERE, OBSERVED_KINDS, STALE, Gap, digest
from s2p.gaps.store import GapStore, StoreError
from s2p.gaps.syncfile import load_sync_timestamps

if TYPE_CHECKING:
    from s2p.match.cascade import MatchOutcome

log = logging.getLogger(__name__)

Inventory = Callable[[], Iterable[SceneSummary]]
JOB = "gaps"
REFRESH_JOB = "gaps-refresh"
# A comparison never starts sooner than this after start-up (unless the
# interval is shorter): one-off commands and quick restarts stay light.
STARTUP_DELAY = 60.0


class GapsUnavailable(Exception):
    """Gap records cannot be used (the store did not open); says why."""


class ComparisonFailed(Exception):
    """A comparison could not finish; the message is safe to show."""


class Interrupted(ComparisonFailed):
    pass


# Seconds within which fetching the same version again is not recorded again.
SERVED_RESOLUTION = 60.0
SERVED_MEMORY = 5000  # scenes remembered for SERVED_RESOLUTION before pruning


@dataclass
class RunResult:
    run_id: int
    stats: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def stash_inventory(stash: StashAPI, *, page_size: int, page_timeout: float) -> Inventory:
    """Every scene, in one paged pass by id (the same lean query an index uses)."""

    def scenes() -> Iterator[SceneSummary]:
        for page in stash.iter_summaries(per_page=page_size, deadline_per_page=page_timeout):
            yield from page

    return scenes


class GapService:
    def __init__(self, settings: Settings, *, store: GapStore, inventory: Inventory, path_map: PathMap,
                 plex_factory: Callable[[], PlexLibrary] | None = None,
                 version_of: Callable[[str], str | None] = lambda _scene_id: None,
                 local_files: SectionFiles | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self._inventory = inventory
        self._map = path_map
        self._plex_factory = plex_factory or (lambda: PlexLibrary(settings.plex, settings.state_dir))
        self._version_of = version_of
        self._local = local_files if local_files is not None else SectionFiles(settings.match.media_roots)
        self._clock = clock
        self._redact = Redactor(settings.secrets())
        self._stop = threading.Event()
        self._scheduler: Scheduler | None = None
        self._lock = threading.Lock()
        # Keys of open scan-time records, so a successful match settles its
        # record without a store round trip for every other match.
        self._open_observations: set[str] = set()
        self._last_served: dict[str, tuple[str | None, float]] = {}
        self._plex_machine: str | None = None  # Plex's machine identifier, once a comparison has read Plex
        self.problem: str | None = None

    @classmethod
    def build(cls, settings: Settings, *, stash: StashAPI, path_map: PathMap,
              version_of: Callable[[str], str | None],
              index_inventory: Callable[[], Iterable[SceneSummary] | None] | None = None) -> "GapService":
        """``index_inventory``: the scene index's scenes, or ``None`` while it
        is not loaded (then one paged pass over Stash is made instead)."""
        timeout = settings.stash.timeout * (settings.stash.retries + 1)
        from_stash = stash_inventory(stash, page_size=settings.index.page_size, page_timeout=timeout)

        def inventory() -> Iterable[SceneSummary]:
            scenes = index_inventory() if index_inventory is not None else None
            return from_stash() if scenes is None else scenes

        return cls(settings, store=GapStore(settings.state_dir), path_map=path_map, version_of=version_of,
                   inventory=inventory)

    # ------------------------------------------------------------ life cycle

    @property
    def plex_configured(self) -> bool:
        return bool(self.settings.plex.url and self.settings.plex.token.get_secret_value())

    def open(self) -> bool:
        """Open the store; on failure gap records are off and ``problem`` says why."""
        try:
            self.store.open()
            keys = self.store.read(lambda conn: db.open_keys(conn, OBSERVED_KINDS))
        except (StoreError, OSError) as exc:
            self.problem = f"gap records are off: {exc}"
            log.error("%s", self.problem)
            return False
        with self._lock:
            self._open_observations = {key for _id, _kind, key, _seen in keys}
        self.problem = None
        return True

    def schedule(self, scheduler: Scheduler) -> None:
        """Register the periodic comparison (and refreshes) with the scheduler."""
        self._scheduler = scheduler
        if not self.store.is_open or not self.plex_configured:
            return
        interval = self.settings.gaps.interval
        last = self.store.read(db.last_complete)
        since = self._clock() - last if last else float("inf")
        first = max(STARTUP_DELAY, interval - since) if interval > 0 else None
        scheduler.add(JOB, interval, self._scheduled_compare,
                      first_delay=None if first is None else min(interval, first))
        if self.settings.gaps.refresh_stale:
            scheduler.add(REFRESH_JOB, 60.0, self.refresh_stale, first_delay=min(60.0, max(interval, 1.0)))

    def _scheduled_compare(self) -> None:
        try:
            self.compare(trigger="schedule")
        except (ComparisonFailed, PlexError, GapsUnavailable, StoreError):
            return  # already logged and recorded in the run history the report shows
        if self.settings.gaps.refresh_stale and self._scheduler is not None:
            self._scheduler.trigger(REFRESH_JOB)  # stale items are known now: start on them

    def request_run(self) -> bool:
        """Start a comparison soon (the scheduler's thread runs it)."""
        if self._scheduler is None or JOB not in self._scheduler.status():
            return False
        self._scheduler.trigger(JOB)
        return True

    def stop(self) -> None:
        self._stop.set()
        self.store.close()

    def _stopping(self) -> bool:
        return self._stop.is_set() or bool(self._scheduler is not None and self._scheduler.stopping)

    # ------------------------------------------------------------ observations (request threads)

    def observe_match(self, outcome: MatchOutcome) -> None:
        """Record a match that ended with no scene or ambiguously; settle
        the record of a file that now matches.  Never blocks."""
        if not self.store.is_open:
            return
        if outcome.decision is not None and not outcome.query.manual:
            with self._lock:
                if not self._open_observations:
                    return  # a match settles records, and there are none (the common case, kept cheap)
        key, gap = observation(outcome, min_score=self.settings.match.min_score, margin=self.settings.match.margin,
                               from_plex=self._from_plex(outcome.query.client_identifier))
        if key is None:
            return
        now = self._clock()
        if gap is None:
            with self._lock:
                if key not in self._open_observations:
                    return
            self.store.offer(lambda conn: self._settle_key(conn, key, now, "matched when Plex asked again"))
            return
        self.store.offer(lambda conn: self._record(conn, gap, now))

    def _from_plex(self, client: str | None) -> bool:
        """Whether a request is known to come from Plex: its client identifier
        is one of [server] plex_clients, or the machine the comparison reads."""
        known = set(self.settings.server.plex_clients)
        if self._plex_machine:
            known.add(self._plex_machine)
        return bool(client) and client in known

    def observe_gone(self, scene_id: str, items: list[dict[str, Any]]) -> None:
        """Plex items that carry the guid of a scene Stash no longer has (live
        sync saw it go): recorded now, as the next comparison would.  Each
        item: ``rating_key``, ``title``, ``guid``, ``section``, ``parts`` ((file, size) pairs)."""
        if not self.store.is_open or not items:
            return
        gaps = [Gap(MATCHED_ELSEWHERE, item["rating_key"],
                    f"carries s2p's guid for scene {scene_id}, which Stash no longer has",
                    digest(item["guid"], *item["parts"]),
                    plex_path=item["parts"][0][0] if item["parts"] else None, scene_id=scene_id,
                    rating_key=item["rating_key"], section=item["section"], title=item["title"],
                    detail={"guid": item["guid"], "stash_scenes": [], "plex_files": [f for f, _ in item["parts"]]})
                for item in items]
        now = self._clock()
        self.store.offer(lambda conn: db.upsert_gaps(conn, gaps, now))

    def observe_undelivered(self, scene_id: str, why: str) -> None:
        """An edit live sync could not get into Plex (it gave up): recorded as
        stale now, so it is in the report and not only in a WARNING.  The
        next fetch of the scene by Plex, or a comparison that no longer
        finds it stale, resolves it."""
        if not self.store.is_open:
            return
        gap = Gap(STALE, scene_id, why, digest(scene_id, why), scene_id=scene_id,
                  detail={"from": "sync", "updated_at": self._version_of(scene_id)})
        now = self._clock()
        self.store.offer(lambda conn: db.upsert_gaps(conn, [gap], now))

    def observe_served(self, scene_id: str) -> None:
        """Remember that Plex fetched this scene's metadata now (and which
        version it got).  Never blocks."""
        if not self.store.is_open:
            return
        version = self._version_of(scene_id)
        now = self._clock()
        # Plex fetches the same metadata repeatedly in a scan; the same version
        # again within a minute changes nothing worth a write.
        with self._lock:
            last = self._last_served.get(scene_id)
            if last is not None and last[0] == version and now - last[1] < SERVED_RESOLUTION:
                return
            self._last_served[scene_id] = (version, now)
            if len(self._last_served) > SERVED_MEMORY:
                # Past the resolution an entry saves nothing: keep memory bounded
                # however large the library a scan walks through.
                self._last_served = {key: seen for key, seen in self._last_served.items()
                                     if now - seen[1] < SERVED_RESOLUTION}
        self.store.offer(lambda conn: self._served(conn, scene_id, now, version))

    def _record(self, conn: sqlite3.Connection, gap: Gap, now: float) -> None:
        db.upsert_gaps(conn, [gap], now)
        for kind in OBSERVED_KINDS:
            if kind != gap.kind:
                db.resolve(conn, kind, gap.key, now, f"now {gap.kind.replace('_', ' ')}")
        with self._lock:
            self._open_observations.add(gap.key)

    def _settle_key(self, conn: sqlite3.Connection, key: str, now: float, why: str) -> None:
        for kind in OBSERVED_KINDS:
            db.resolve(conn, kind, key, now, why)
        with self._lock:
            self._open_observations.discard(key)

    def _served(self, conn: sqlite3.Connection, scene_id: str, now: float, version: str | None) -> None:
        db.record_served(conn, scene_id, now, version)
        # Plex just took this scene: a stale record for it may be over already.
        row = conn.execute("SELECT detail FROM gaps WHERE kind = ? AND key = ? AND resolved_at IS NULL",
                           (STALE, scene_id)).fetchone()
        if row is None:
            return
        detail = json.loads(row["detail"] or "{}")
        if detail.get("from") == "sync":  # an edit sync gave up on: any fetch since delivers it
            db.resolve(conn, STALE, scene_id, now, "Plex fetched it")
            return
        changed = stash_time(detail.get("updated_at"))
        got = stash_time(version) if version else now
        if changed is not None and got is not None and got >= changed:
            db.resolve(conn, STALE, scene_id, now, "Plex fetched the current version")

    # ------------------------------------------------------------ the comparison

    def compare(self, *, trigger: str = "manual") -> RunResult:
        """Compare Plex with Stash now and record the result."""
        if not self.store.is_open:
            raise GapsUnavailable(self.problem or "the gap store is not open")
        if not self.plex_configured:
            raise PlexNotConfigured("set [plex] url and [plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN) to compare "
                                    "Plex with Stash")
        started = time.monotonic()
        run = self.store.call(lambda conn: db.begin_run(conn, self._clock(), trigger))
        log.info("gap comparison %d started (%s)", run, trigger)
        try:
            result = self._compare(run, started)
        except Exception as exc:
            status = "interrupted" if isinstance(exc, Interrupted) else "failed"
            message = self._redact(_safe_message(exc))
            try:
                self.store.call(lambda conn: db.finish_run(conn, run, self._clock(), status, error=message))
            except StoreError:
                pass  # the store closed under us (s2p stopping): the run reads as interrupted next time
            log.warning("gap comparison %d %s: %s", run, status, message)
            if isinstance(exc, ComparisonFailed):
                raise
            raise ComparisonFailed(message) from None
        stats = result.stats
        log.info("gap comparison %d complete in %.1f s: %d Plex item(s), %d Stash scene(s); %s", run,
                 stats["seconds"], stats["plex_items"], stats["stash_scenes"],
                 ", ".join(f"{stats.get(k, 0)} {k}" for k in COMPARED_KINDS))
        return result

    def _compare(self, run: int, started: float) -> RunResult:
        began = self._clock()
        plex = self._plex_factory()
        tv_identifier = self.settings.tv_identifier if self.settings.tv.enabled else None
        available = plex.sections()
        machine = getattr(plex, "machine_identifier", None)
        self._plex_machine = (machine() if callable(machine) else None) or self._plex_machine
        sections, problems = choose_sections(available, self.settings.plex.sections,
                                             self.settings.provider.identifier, tv_identifier)
        if not sections:
            raise ComparisonFailed("; ".join(problems))
        sync = self._sync_times(problems)
        comparison = Comparison(path_map=self._map, identifier=self.settings.provider.identifier,
                                sections=sections, sync=sync, tv_identifier=tv_identifier,
                                hash_file=self._local.hash if self._local else None)
        phase = time.monotonic()
        comparison.add_scenes(StashScene.from_summary(s) for s in self._checked(self._inventory()))
        stash_seconds = time.monotonic() - phase
        phase = time.monotonic()
        for section in sections:
            for page in plex.items(section):
                self._check_stop()
                comparison.add_items(page)
        plex_seconds = time.monotonic() - phase
        result = comparison.finish()
        # Only records older than this comparison: a file Plex is scanning
        # right now may be missing from pages already read.
        open_records = [(record_id, kind, key) for record_id, kind, key, seen in
                        self.store.read(lambda conn: db.open_keys(conn, OBSERVED_KINDS)) if seen < began]
        unvouched = self.store.read(lambda conn: db.unvouched(conn, OBSERVED_KINDS))
        settled = settle_observations([(record_id, key) for record_id, _kind, key in open_records], result.plex,
                                      unvouched)
        stats: dict[str, Any] = dict(result.stats)
        stats.update(seconds=round(time.monotonic() - started, 2), stash_seconds=round(stash_seconds, 2),
                     plex_seconds=round(plex_seconds, 2), sections=[s.title for s in sections],
                     problems=problems, observations_settled=len(settled), observations_dropped=self.store.dropped)
        self._check_stop()

        def apply(conn: sqlite3.Connection) -> None:
            now = self._clock()
            db.upsert_gaps(conn, result.gaps, now, run)
            stats["resolved"] = db.resolve_unseen(conn, COMPARED_KINDS, run, now)
            db.resolve_ids(conn, settled, now)
            db.prune(conn, now)
            db.finish_run(conn, run, now, "complete", stats=stats)

        self.store.call(apply)
        settled_ids = {record_id for record_id, _why in settled}
        with self._lock:
            for record_id, _kind, key in open_records:
                if record_id in settled_ids:
                    self._open_observations.discard(key)
        return RunResult(run, stats, problems)

    def _sync_times(self, problems: list[str]) -> dict[str, SyncTimes]:
        served = self.store.read(db.served_times)
        external, problem = load_sync_timestamps(self.settings.gaps.sync_timestamps)
        if problem:
            problems.append(problem)
        if not external:
            return served
        merged = dict(served)
        for scene_id, when in external.items():
            mine = merged.get(scene_id, SyncTimes())
            merged[scene_id] = SyncTimes(mine.served_at, mine.served_version, when)
        return merged

    def _checked(self, scenes: Iterable[SceneSummary]) -> Iterator[SceneSummary]:
        for count, scene in enumerate(scenes):
            if count % 500 == 0:
                self._check_stop()
            yield scene

    def _check_stop(self) -> None:
        if self._stopping():
            raise Interrupted("s2p is stopping")

    # ------------------------------------------------------------ refreshing stale items

    def refresh_stale(self) -> int:
        """Ask Plex to refresh stale items, at most ``refresh_per_minute``
        per call (the job runs every minute), spaced evenly.  Each item is
        asked once per change of its scene."""
        if not (self.settings.gaps.refresh_stale and self.store.is_open and self.plex_configured):
            return 0
        per_minute = self.settings.gaps.refresh_per_minute
        rows = self.store.read(lambda conn: db.stale_to_refresh(conn, per_minute))
        if not rows:
            return 0
        plex = self._plex_factory()
        spacing = 60.0 / per_minute
        done = 0
        for index, row in enumerate(rows):
            if index and self._stop.wait(spacing):
                break
            if self._stopping():
                break
            for rating_key in row["detail"].get("rating_keys") or [row["rating_key"]]:
                try:
                    plex.refresh(str(rating_key))
                except ItemGone as exc:
                    log.info("%s; not refreshed", exc)  # the next comparison settles its record
                except PlexError as exc:
                    log.warning("could not ask Plex to refresh item %s: %s", rating_key, exc)
                    return done

            def refreshed(conn: sqlite3.Connection, row: dict[str, Any] = row) -> None:
                db.mark_refreshed(conn, row["id"], self._clock(), row["version"])

            self.store.call(refreshed)
            done += 1
        log.info("asked Plex to refresh %d stale item(s)", done)
        return done

    # ------------------------------------------------------------ reading and changing records

    def _readable(self) -> None:
        if not self.store.is_open:
            raise GapsUnavailable(self.problem or "the gap store is not open")

    def report(self, *, kinds: Iterable[str] = KINDS, state: str = "open", offset: int = 0,
               limit: int | None = None) -> dict[str, Any]:
        self._readable()
        kinds = tuple(kinds)
        data = self.store.read(lambda conn: reports.collect(conn, kinds=kinds, state=state, offset=offset,
                                                            limit=limit, now=self._clock()))
        job = self._scheduler.status().get(JOB) if self._scheduler is not None else None
        data["comparison"] = {
            "plex_configured": self.plex_configured,
            "interval_seconds": self.settings.gaps.interval,
            "running": bool(job and job["running"]),
            "scheduled": job is not None,
        }
        data["observations_dropped"] = self.store.dropped
        return data

    def summary(self) -> dict[str, Any]:
        """Open gaps by kind and the store's queue, for /healthz and /metrics."""
        if not self.store.is_open:
            return {"recording": False, "problem": self.problem or "the gap store is not open"}
        counts = self.store.read(lambda conn: db.counts(conn, "open"))
        lost = {"store_set_aside": self.store.lost.as_dict()} if self.store.lost else {}
        return {"recording": True, "open": {kind: counts.get(kind, 0) for kind in KINDS},
                "queue_depth": self.store.depth, "observations_dropped": self.store.dropped, **lost}

    def dismiss_kind(self, kind: str) -> int:
        """Dismiss every open record of one kind (each comes back when its item changes)."""
        self._readable()
        return self.store.call(lambda conn: db.dismiss_kind(conn, kind, self._clock()))

    def set_dismissed(self, gap_id: int, dismissed: bool) -> dict[str, Any] | None:
        """Dismiss (or restore) one record; ``None`` when there is no such record."""
        self._readable()

        def change(conn: sqlite3.Connection) -> dict[str, Any] | None:
            if not db.set_dismissed(conn, gap_id, self._clock(), dismissed):
                return None
            return db.get_gap(conn, gap_id)

        row = self.store.call(change)
        return reports.gap_json(row) if row else None

    def scene(self, scene_id: str, updated_at: str | None, plex_paths: list[str]) -> dict[str, Any]:
        """What the gap records know of one scene: when Plex last fetched it
        from s2p (and whether Stash changed it since) and its unresolved records."""
        self._readable()

        def read(conn: Any) -> tuple[SyncTimes | None, list[dict[str, Any]]]:
            return db.served_time(conn, scene_id), db.scene_gaps(conn, scene_id, plex_paths)

        served, rows = self.store.read(read)
        changed, why = staleness(updated_at, served)
        return {
            "fetched_at": iso(served.served_at) if served else None,
            "fetched_version": served.served_version if served else None,
            "changed_since": changed, "changed_why": why,
            "gaps": [reports.gap_json(row) for row in rows],
        }


def _safe_message(exc: Exception) -> str:
    if isinstance(exc, (PlexError, StashError, ComparisonFailed)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
