"""One sync cycle: what changed in Stash, then exactly those Plex items refreshed.

Every ``[sync] interval`` s2p looks at Stash (``changes``), forgets what it
had cached of each changed scene, and queues a refresh per scene (edits
coalesce: a scene edited five times before its turn is refreshed once).
The queue is worked at most ``[sync] max_refresh_per_minute`` items a
minute; for each scene the Plex items carrying its guid (in the sections on
s2p's agent, or ``[plex] sections``) get ``PUT /library/metadata/{key}/refresh``
and Plex then asks s2p for the new metadata.  With the TV provider, an
edited studio's TV show items are refreshed the same way (queued as
``show-<id>``).

An entry stays queued until Plex has fetched the scene's metadata from s2p
(``fetched``, told by the metadata route), so a process killed between the
refresh request and Plex's fetch loses no edit; if Plex has not come back
within ``FETCH_WAIT`` it is asked again, at most ``MAX_ASKS`` times.  A
scene Plex seems not to have is kept until a discovery of Plex's libraries
newer than the edit confirms it (``pms.libraries``), then dropped (and its
folder scanned if it is a new file).  Plex down means a retry with jittered
backoff; after ``MAX_ATTEMPTS`` failed tries the edit is given up and lands
in the gap report.  Nothing else is ever refreshed.
"""

from __future__ import annotations

import logging
import posixpath
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from s2p.common.backoff import Backoff
from s2p.common.deadline import Deadline
from s2p.common.queued import label, show_entry, show_of
from s2p.config import Settings
from s2p.paths.forms import canonical
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashError
from s2p.sync import changes
from s2p.sync.store import Queued, SyncStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF = Backoff(base=30.0, cap=3600.0, attempts=MAX_ATTEMPTS)
# After a refresh request, how long Plex has to fetch the metadata before it is asked again, and how often.
FETCH_WAIT = 600.0
MAX_ASKS = 3
WAITING = "asked Plex to refresh; waiting for Plex to fetch the metadata"


class Libraries(Protocol):
    """Plex's libraries to look in (``pms.libraries.PlexLibraries``)."""

    def items(self, *, newer_than: float | None = None) -> Any: ...

    def confirmed(self, since: float) -> bool: ...

    def failed(self) -> None: ...

    def explain(self, exc: Exception, doing: str) -> tuple[str, bool]: ...


@dataclass
class CycleReport:
    at: float = 0.0
    changed: int = 0
    refreshed: int = 0
    scanned: int = 0  # folders Plex was asked to scan
    deleted: int = 0  # scenes deleted from Stash that Plex still has
    failures: int = 0
    queued: int = 0
    queries: int = 0
    error: str | None = None
    plans: list[str] = field(default_factory=list)  # what a dry run would do

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "changed": self.changed, "refreshed": self.refreshed, "scanned": self.scanned,
                "deleted": self.deleted,
                "failures": self.failures,
                "queued": self.queued, "stash_queries": self.queries, "error": self.error}


class SyncService:
    def __init__(self, settings: Settings, stash: StashAPI, *, store: SyncStore,
                 plex: Libraries, forget: Callable[[str], None],
                 to_plex: Callable[[str], str | None] = lambda path: path,
                 gone: Callable[[str, list[dict[str, Any]]], None] | None = None,
                 undelivered: Callable[[str, str], None] | None = None,
                 index: changes.Index | None = None, backoff: Backoff = BACKOFF,
                 clock: Callable[[], float] = time.time):
        self._index = index  # the scene index, whose refresh tells sync which scenes changed
        self._gone = gone  # told of Plex items whose scene Stash deleted (the gap report)
        self._known: set[str] | None = None  # Stash's scene ids at the last count that differed
        self._settings = settings
        self._to_plex = to_plex  # a Stash path as Plex names it (the stash_to_plex rules)
        self.scans_total = 0
        self._stash = stash
        self.store = store
        self.plex = plex  # the Plex libraries to look in, rediscovered when they may have changed
        self._undelivered = undelivered  # told of an edit given up (the gap report): (scene id, why)
        self._backoff = backoff
        self._forget = forget
        self._clock = clock
        self._lock = threading.Lock()
        self.last: CycleReport | None = None
        self.cycles = 0
        self.refreshed_total = 0
        self.failures_total = 0
        self.confirmed_total = 0  # refreshes whose metadata Plex then fetched

    @property
    def interval(self) -> float:
        return self._settings.sync.interval

    def cycle(self, *, dry_run: bool = False) -> CycleReport:
        """Look at Stash, queue and forget what changed, refresh what is due."""
        with self._lock:
            report = CycleReport(at=self._clock())
            try:
                found = changes.look(self._stash, self.store, self._settings.index.overlap,
                                     Deadline(self._settings.stash.timeout * 3), self._index)
            except StashError as exc:
                report.error = f"Stash: {exc}"
                log.warning("sync: cannot ask Stash what changed (%s); trying again next cycle", exc)
                return self._finish(report, dry_run)
            report.queries = found.queries
            report.changed = len(found.changes)
            shows = found.studios if self._settings.tv.enabled else []
            if dry_run:
                report.plans = [f"refresh scene {scene_id} in Plex ({reason})"
                                for scene_id, reason in sorted(found.changes.items(), key=lambda kv: int(kv[0])
                                                               if kv[0].isdigit() else 0)]
                report.plans += [f"refresh TV show {studio_id} in Plex (its studio was edited in Stash)"
                                 for studio_id in shows]
                return report
            for scene_id, reason in found.changes.items():
                self._forget(scene_id)
                self.store.add(scene_id, reason, report.at)
            for studio_id in shows:
                self.store.add(show_entry(studio_id), "its studio was edited in Stash", report.at)
            changes.commit(self.store, found, self._settings.index.overlap)
            if found.baseline:
                log.info("sync: watching Stash for changes from %s on", found.newest or "now")
            self._refresh_due(report)
            if self._gone is not None:
                self._look_for_deleted(report, self._gone)
            return self._finish(report, dry_run)

    def refresh_now(self, scene_id: str, reason: str) -> None:
        """Put a scene at the head of the refresh queue; the next cycle (which
        the caller may start at once) refreshes its Plex items first."""
        self._forget(scene_id)
        self.store.put_first(scene_id, reason)

    def scan_scenes(self, scene_ids: list[str]) -> int:
        """Ask Plex to scan the folders of these scenes' files; the number of folders asked."""
        report = CycleReport(at=self._clock())
        self._scan_new_files(self.plex.items(), scene_ids, report)
        return report.scanned

    def _look_for_deleted(self, report: CycleReport, tell: Callable[[str, list[dict[str, Any]]], None]) -> None:
        """Scenes deleted from Stash since the last cycle: one count a cycle,
        and the list of ids only when the count says the library changed."""
        deadline = Deadline(self._settings.stash.timeout * 2)
        try:
            count = self._stash.scene_count(deadline=deadline)
            report.queries += 1
            if self._known is not None and count == len(self._known):
                return
            current = {scene_id for scene_id, _ in self._stash.scene_stamps({}, deadline=deadline)}
            report.queries += 1
        except StashError as exc:
            log.info("sync: cannot count Stash's scenes (%s)", exc)
            return
        gone = sorted(self._known - current) if self._known is not None else []
        self._known = current
        if not gone:
            return
        try:
            items = self.plex.items()
            for scene_id in gone:
                found = items.find_scene(scene_id)
                if not found:
                    continue
                described: list[dict[str, Any]]
                described = [{"rating_key": str(item.ratingKey), "title": getattr(item, "title", "") or "",
                              "guid": getattr(item, "guid", "") or "", "section": getattr(item, "librarySectionTitle",
                                                                                        None),
                              "parts": [(part.file, part.size) for part in item.iterParts() if part.file]}
                             for item in found]
                tell(scene_id, described)
                report.deleted += 1
                log.info("sync: scene %s was deleted from Stash; Plex item(s) %s still carry it (gap report)",
                         scene_id, ", ".join(d["rating_key"] for d in described))
        except Exception as exc:  # the next full comparison reports them anyway
            log.info("sync: cannot look up the Plex items of deleted scenes (%s)", exc)

    def _finish(self, report: CycleReport, dry_run: bool) -> CycleReport:
        if not dry_run:
            report.queued = self.store.pending()
            self.last = report
            self.cycles += 1
        return report

    def _refresh_due(self, report: CycleReport) -> None:
        budget = max(1, int(self._settings.sync.max_refresh_per_minute * max(self.interval, 1.0) / 60))
        due = self.store.due(report.at, budget)
        if not due:
            return
        try:
            items = self.plex.items()
        except Exception as exc:  # Plex down or refusing: everything due waits for the next cycle
            self._plex_failed(due, exc, "listing Plex's libraries", report)
            return
        absent = []
        rediscovered = False
        for n, queued in enumerate(due):
            target = queued.scene_id
            if queued.held >= MAX_ASKS:
                log.warning("sync: Plex did not fetch %s after %d refresh requests; giving up (gap report)",
                            label(target), queued.held)
                self._give_up(queued, f"Plex did not fetch the metadata after {queued.held} refresh requests")
                continue
            try:
                found = self._find(items, target)
                if not found and not self.plex.confirmed(queued.added) and not rediscovered:
                    # Plex's libraries may have changed since they were last listed: look again, once a cycle.
                    rediscovered = True
                    items = self.plex.items(newer_than=queued.added)
                    found = self._find(items, target)
                if not found:
                    if self.plex.confirmed(queued.added):
                        log.info("sync: Plex has no item for %s (its libraries were listed after the edit)",
                                 label(target))
                        if show_of(target) is None:
                            absent.append(target)
                        self.store.remove(target)
                    else:
                        self._retry(queued, "Plex shows no item for it yet; its libraries are listed again",
                                    report, level=logging.INFO)
                    continue
                for item in found:
                    item.refresh()
                    report.refreshed += 1
                    self.refreshed_total += 1
                    log.info("sync: refreshed Plex item %s for %s (%s)", item.ratingKey, label(target),
                             queued.payload)
                # Kept until Plex has fetched the metadata (``fetched``), or asked again after FETCH_WAIT.
                self.store.queue.hold(target, report.at + FETCH_WAIT, WAITING)
            except Exception as exc:
                # The rest wait for the next cycle untouched: Plex is likely down for them too.
                self._plex_failed([queued], exc, "refreshing an item", report, waiting=len(due) - n)
                return
        if absent:
            self._scan_new_files(items, absent, report)

    @staticmethod
    def _find(items: Any, target: str) -> list[Any]:
        show = show_of(target)
        if show is not None:
            # The show alone: its episodes have their own entries when their scenes changed.
            return list(items.find_show(show, seasons=False))
        return list(items.find_scene(target))

    def fetched(self, scene_id: str) -> None:
        """A metadata observer: Plex has just read this scene's metadata from
        s2p, so a refresh waiting for it is delivered.  Never raises."""
        try:
            if self.store.queue.done(scene_id, only_held=True):
                self.confirmed_total += 1
                log.debug("sync: Plex fetched %s after its refresh", label(scene_id))
        except Exception as exc:  # the refresh is asked again after FETCH_WAIT: nothing is lost
            log.info("sync: cannot note that Plex fetched %s (%s)", label(scene_id), exc)

    def fetched_show(self, show_id: str) -> None:
        """A TV observer: Plex has just read this show (or a season of it)."""
        self.fetched(show_entry(show_id))

    def _plex_failed(self, due: list[Queued], exc: Exception, doing: str, report: CycleReport,
                     waiting: int | None = None) -> None:
        """Plex failed: look its libraries up afresh next time; every entry given is retried later."""
        self.plex.failed()
        error, must_fix = self.plex.explain(exc, doing)
        if must_fix:
            # Waiting will not help: say so once a cycle, clearly, with the fix.
            log.warning("sync: %s; %d refresh(es) wait", error, len(due) if waiting is None else waiting)
        for queued in due:
            self._retry(queued, error, report, level=logging.DEBUG if must_fix else logging.INFO)

    def _scan_new_files(self, items: Any, scene_ids: list[str], report: CycleReport) -> None:
        """Scenes no Plex item carries: where their files map into a Plex library
        on s2p's agent, ask Plex to scan just those folders (once per folder)."""
        try:
            scenes = self._stash.scenes(scene_ids, deadline=Deadline(self._settings.stash.timeout))
            sections = [(s, [canonical(loc) for loc in (s.locations or [])]) for s in items.sections()]
        except Exception as exc:  # a scan is a courtesy: Plex's own scan finds the files too
            log.info("sync: cannot look for new files to scan in (%s)", exc)
            return
        folders: dict[tuple[str, str], tuple[Any, str]] = {}
        for scene_id in scene_ids:
            scene = scenes.get(scene_id)
            for file in scene.files if scene else []:
                plex_path = self._to_plex(file.path)
                if not plex_path:
                    continue
                folder = posixpath.dirname(canonical(plex_path))
                for section, locations in sections:
                    if any(folder == loc or folder.startswith(loc.rstrip("/") + "/") for loc in locations):
                        folders.setdefault((str(section.key), folder), (section, scene_id))
        for (_, folder), (section, scene_id) in folders.items():
            real = self._to_plex_folder(folder, scene_id, scenes)
            try:
                section.update(path=real)
            except Exception as exc:
                log.info("sync: asking Plex to scan %s failed (%s)", real, exc)
                continue
            report.scanned += 1
            self.scans_total += 1
            log.info("sync: asked Plex to scan %s in library %r for scene %s (a file Plex does not have yet)",
                     real, section.title, scene_id)

    def _to_plex_folder(self, folder: str, scene_id: str, scenes: dict) -> str:
        """The folder as Plex itself writes it (its own separators and drive)."""
        for file in scenes[scene_id].files:
            plex_path = self._to_plex(file.path)
            if plex_path and posixpath.dirname(canonical(plex_path)) == folder:
                cut = max(plex_path.rfind("/"), plex_path.rfind("\\"))
                return plex_path[:cut] if cut > 0 else folder
        return folder

    def _retry(self, queued: Queued, error: str, report: CycleReport, level: int = logging.INFO) -> None:
        report.failures += 1
        self.failures_total += 1
        attempts = queued.attempts + 1
        if self._backoff.gives_up(attempts):
            log.warning("sync: giving up refreshing %s in Plex after %d attempts (%s); it is in the gap report",
                        label(queued.scene_id), attempts, error)
            self._give_up(queued, f"live sync gave up after {attempts} attempts: {error}")
            return
        delay = self._backoff.delay(attempts)
        self.store.retry(queued.scene_id, report.at + delay, attempts, error)
        log.log(level, "sync: refreshing %s in Plex failed (%s); retry in %.0f s", label(queued.scene_id), error,
                delay)

    def _give_up(self, queued: Queued, why: str) -> None:
        self.store.remove(queued.scene_id)
        if self._undelivered is not None and show_of(queued.scene_id) is None:
            try:
                self._undelivered(queued.scene_id, why)
            except Exception as exc:  # the WARNING above said it already
                log.info("sync: cannot put %s in the gap report (%s)", label(queued.scene_id), exc)

    def close(self) -> None:
        self.store.close()
