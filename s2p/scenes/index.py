"""The scene index: every Stash file in memory, so matching asks Stash nothing.

One pass over ``findScenes`` (by id, in pages) fills it; an incremental pass
on a schedule picks up scenes updated since the newest change seen (minus a
safety overlap: Stash compares those timestamps as text in its own UTC
offset), and a full reload at a longer interval drops deleted scenes and
catches renamed files (a rename does not always touch the scene's
``updated_at``).

What is kept is only what matching and match answers need: a scene's id,
title, date and ``updated_at``, and per file its folder, name, oshash and
md5.  Lookups go through small maps:

- folded file name -> scene ids (exact paths and path suffixes are checked
  against the files of that one bucket, so no map holds every suffix);
- oshash -> scene ids, md5 -> scene ids;
- Plex-side path -> scene ids, only for files whose Plex path (through
  ``stash_to_plex``) does not come back to the same Stash path through
  ``plex_to_stash``; every other Plex path is found by translating it.

Thread safety: an index is an immutable ``Snapshot``.  Loads and refreshes
build a new one (copying the maps, reusing unchanged records) and swap the
reference; readers never lock.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

from s2p.config import IndexSettings
from s2p.paths.forms import canonical, fold_name
from s2p.paths.pathmap import PathMap
from s2p.stash.api import StashAPI
from s2p.stash.errors import StashAuthError, StashError
from s2p.stash.models import SceneSummary

log = logging.getLogger(__name__)

PAGE_RETRIES = 3
FIRST_LOAD_BACKOFF = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
_HEX16 = re.compile(r"^[0-9a-fA-F]{1,16}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


# Records are plain tuples of strings and ints, not objects: the garbage
# collector stops tracking such tuples, so a big index costs nothing at each
# collection.  (With a class per record, loading 50,000 scenes spent more
# than half its time in the collector.)
#
#   a file:  (folder, name, oshash, md5) - folder ends with its separator,
#            the hashes are ints or None
#   a scene: (id, title, date, updated_at, files)
FOLDER, NAME, OSHASH, MD5 = range(4)
ID, TITLE, DATE, UPDATED_AT, FILES = range(5)
IndexedFile = tuple
IndexedScene = tuple
# A key's scenes: one id, or a tuple of ids when several scenes share the key.
SceneIds = str | tuple[str, ...]
Key = TypeVar("Key")


class Jobs(Protocol):
    """What the index asks of ops' scheduler (scenes does not import ops)."""

    def add(self, name: str, interval: float, run: Callable[[], object], *, first_delay: float | None = None) -> None:
        ...


def file_path(file: IndexedFile) -> str:
    return file[FOLDER] + file[NAME]


def summary(scene: IndexedScene) -> SceneSummary:
    """The scene as matching and match answers see it (the index keeps no
    file sizes).  Validating a dict is pydantic's fastest way to build one."""
    files = []
    for folder, name, oshash, md5 in scene[FILES]:
        fingerprints = []
        if oshash is not None:
            fingerprints.append({"type": "oshash", "value": f"{oshash:016x}"})
        if md5 is not None:
            fingerprints.append({"type": "md5", "value": f"{md5:032x}"})
        files.append({"path": folder + name, "basename": name, "fingerprints": fingerprints})
    return SceneSummary.model_validate({"id": scene[ID], "title": scene[TITLE], "date": scene[DATE],
                                        "updated_at": scene[UPDATED_AT], "files": files})


def same_as(record: IndexedScene, scene: SceneSummary) -> bool:
    """Whether the index's record still says what Stash says."""
    if (record[TITLE], record[DATE], record[UPDATED_AT]) != (scene.title, scene.date, scene.updated_at):
        return False
    if len(record[FILES]) != len(scene.files):
        return False
    return all(
        folder + name == theirs.path
        and oshash == _hex(theirs.fingerprint("oshash"), _HEX16)
        and md5 == _hex(theirs.fingerprint("md5"), _HEX32)
        for (folder, name, oshash, md5), theirs in zip(record[FILES], scene.files, strict=True)
    )


def _hex(value: str | None, pattern: re.Pattern[str]) -> int | None:
    return int(value, 16) if value and pattern.match(value) else None


def _split(path: str) -> tuple[str, str]:
    cut = max(path.rfind("/"), path.rfind("\\")) + 1
    return path[:cut], path[cut:]


def name_key(name: str) -> int:
    """The bucket of a file name: the hash of its folded form.  Keeping the
    hash instead of a second string per file saves memory; a lookup compares
    the names of the bucket anyway."""
    return hash(fold_name(name))


def _ids(value: SceneIds | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def _with(value: SceneIds | None, scene_id: str) -> SceneIds:
    if value is None:
        return scene_id
    ids = _ids(value)
    return value if scene_id in ids else ids + (scene_id,)


def _without(value: SceneIds | None, scene_id: str) -> SceneIds | None:
    ids = tuple(i for i in _ids(value) if i != scene_id)
    return None if not ids else ids[0] if len(ids) == 1 else ids


class Snapshot:
    """One state of the index: filled once, then only read.

    The maps hold one scene id, or a tuple of ids when several scenes share
    a key (a tuple per key would cost memory for the common single case).
    """

    __slots__ = ("scenes", "names", "oshashes", "md5s", "plex_paths", "folders", "dates", "newest", "files",
                 "built_at")

    def __init__(self) -> None:
        self.scenes: dict[str, IndexedScene] = {}
        self.names: dict[int, SceneIds] = {}
        self.oshashes: dict[int, SceneIds] = {}
        self.md5s: dict[int, SceneIds] = {}
        self.plex_paths: dict[str, SceneIds] = {}
        self.folders: dict[str, str] = {}  # pools: one string object per distinct value
        self.dates: dict[str, str] = {}
        self.newest: str | None = None  # the highest updated_at seen, as Stash wrote it
        self.files = 0
        self.built_at = time.time()

    # ------------------------------------------------------------ lookups

    def scene(self, scene_id: str) -> IndexedScene | None:
        return self.scenes.get(scene_id)

    def named(self, name: str) -> list[IndexedScene]:
        """Scenes with a file of this name, compared without case."""
        folded = fold_name(name)
        found = []
        for scene_id in _ids(self.names.get(hash(folded))):
            scene = self.scenes[scene_id]
            if any(fold_name(f[NAME]) == folded for f in scene[FILES]):
                found.append(scene)
        return found

    def with_hash(self, kind: str, value: str) -> list[IndexedScene]:
        if kind == "oshash":
            key, table = _hex(value, _HEX16), self.oshashes
        elif kind == "md5":
            key, table = _hex(value, _HEX32), self.md5s
        else:
            raise ValueError(f"unknown fingerprint type {kind!r}")
        if key is None:
            return []
        return [self.scenes[i] for i in _ids(table.get(key))]

    def with_plex_path(self, plex_path: str) -> list[IndexedScene]:
        return [self.scenes[i] for i in _ids(self.plex_paths.get(canonical(plex_path)))]

    # ------------------------------------------------------------ building

    def copy(self) -> "Snapshot":
        other = Snapshot()
        for name in ("scenes", "names", "oshashes", "md5s", "plex_paths", "folders", "dates"):
            setattr(other, name, getattr(self, name).copy())
        other.newest, other.files = self.newest, self.files
        return other

    def put(self, scene: SceneSummary, path_map: PathMap, previous: "Snapshot | None" = None) -> bool:
        """Add or replace a scene; False when it was already there unchanged.

        ``previous`` (a full reload's old index) lends its record when the
        scene has not changed, so a reload does not hold two copies.
        """
        current = self.scenes.get(scene.id)
        if current is not None and same_as(current, scene):
            return False
        old = previous.scenes.get(scene.id) if previous is not None else None
        if old is not None and same_as(old, scene):
            record = old
            for f in record[FILES]:
                self.folders.setdefault(f[FOLDER], f[FOLDER])
            if record[DATE]:
                self.dates.setdefault(record[DATE], record[DATE])
        else:
            record = self._record(scene, previous)
        if current is not None:
            self.remove(current, path_map)
        self._add(record, path_map)
        return True

    def _record(self, scene: SceneSummary, previous: "Snapshot | None") -> IndexedScene:
        files = []
        for f in scene.files:
            folder, name = _split(f.path)
            folder = self._pooled(self.folders, previous.folders if previous else None, folder)
            files.append((folder, name, _hex(f.fingerprint("oshash"), _HEX16), _hex(f.fingerprint("md5"), _HEX32)))
        date = self._pooled(self.dates, previous.dates if previous else None, scene.date) if scene.date else None
        return (scene.id, scene.title, date, scene.updated_at, tuple(files))

    @staticmethod
    def _pooled(pool: dict[str, str], older: dict[str, str] | None, value: str) -> str:
        found = pool.get(value)
        if found is None:
            found = older.get(value, value) if older else value
            pool[value] = found
        return found

    def _add(self, record: IndexedScene, path_map: PathMap) -> None:
        sid = record[ID]
        self.scenes[sid] = record
        for folder, name, oshash, md5 in record[FILES]:
            key = name_key(name)
            self.names[key] = _with(self.names.get(key), sid)
            if oshash is not None:
                self.oshashes[oshash] = _with(self.oshashes.get(oshash), sid)
            if md5 is not None:
                self.md5s[md5] = _with(self.md5s.get(md5), sid)
            plex = _plex_only_path(folder + name, path_map)
            if plex is not None:
                self.plex_paths[plex] = _with(self.plex_paths.get(plex), sid)
        self.files += len(record[FILES])
        updated = record[UPDATED_AT]
        if updated and (self.newest is None or updated > self.newest):
            self.newest = updated

    def remove(self, record: IndexedScene, path_map: PathMap) -> None:
        sid = record[ID]
        self.scenes.pop(sid, None)
        for folder, name, oshash, md5 in record[FILES]:
            _drop(self.names, name_key(name), sid)
            if oshash is not None:
                _drop(self.oshashes, oshash, sid)
            if md5 is not None:
                _drop(self.md5s, md5, sid)
            plex = _plex_only_path(folder + name, path_map)
            if plex is not None:
                _drop(self.plex_paths, plex, sid)
        self.files -= len(record[FILES])


def _drop(table: dict[Key, SceneIds], key: Key, scene_id: str) -> None:
    rest = _without(table.get(key), scene_id)
    if rest is None:
        table.pop(key, None)
    else:
        table[key] = rest


def _plex_only_path(stash_path: str, path_map: PathMap) -> str | None:
    """The file's Plex path, when translating it back would not find the file."""
    if not path_map.rules:
        return None
    plex = path_map.to_plex(stash_path)
    if plex is None:
        return None
    back = path_map.to_stash(plex.path)
    if back is not None and canonical(back.path) == canonical(stash_path):
        return None
    return canonical(plex.path)


def minus_seconds(stamp: str, seconds: float) -> str | None:
    """An RFC 3339 time ``seconds`` earlier, written in the same offset and
    style as Stash wrote it (so Stash's text comparison stays right)."""
    m = _STAMP.match(stamp.strip())
    if not m:
        return None
    try:
        moment = datetime.strptime(f"{m.group(1)}T{m.group(2)}", "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    earlier = moment - timedelta(seconds=int(seconds))
    return earlier.strftime("%Y-%m-%dT%H:%M:%S") + (m.group(4) or "")


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


class SceneIndex:
    """The loaded snapshot, and the jobs that keep it current."""

    def __init__(self, stash: StashAPI, path_map: PathMap, settings: IndexSettings, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], bool] | None = None):
        self._stash = stash
        self._path_map = path_map
        self._settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # returns True when s2p is stopping
        self._snapshot: Snapshot | None = None
        # Counts the snapshots swapped in: what a cached answer was made from.
        self.generation = 0
        self._writer = threading.Lock()
        self._ready = threading.Event()
        self._loading = False
        self.loaded_at: float | None = None
        self.refreshed_at: float | None = None
        self.build_seconds: float | None = None
        self.last_changes = 0
        self.last_error: str | None = None
        self.fallbacks = 0  # lookups the index could not answer and Stash was asked
        self._wanted = False  # a lookup asked for a refresh now

    # ------------------------------------------------------------ reading

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def inventory(self) -> Iterable[SceneSummary] | None:
        """Every scene in the index (a gap comparison then costs Stash
        nothing), or ``None`` while the index is not loaded."""
        if self._snapshot is None:
            return None
        # Catch up first (one query for what changed), so a scene edited since
        # the last scheduled refresh is seen as stale now.
        self.refresh()
        snapshot = self._snapshot
        return (summary(record) for record in list(snapshot.scenes.values()))

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def stats(self) -> dict:
        snap = self._snapshot
        caught_up = max((t for t in (self.loaded_at, self.refreshed_at) if t is not None), default=None)
        return {
            "ready": snap is not None,
            "loading": self._loading,
            "scenes": len(snap.scenes) if snap else 0,
            "files": snap.files if snap else 0,
            "loaded_at": self.loaded_at,
            "refreshed_at": self.refreshed_at,
            "age_seconds": None if caught_up is None else round(self._clock() - caught_up, 1),
            "build_seconds": None if self.build_seconds is None else round(self.build_seconds, 3),
            "last_refresh_changes": self.last_changes,
            "newest_updated_at": snap.newest if snap else None,
            "stash_fallbacks": self.fallbacks,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------ writing

    def stop(self) -> None:
        self._stop.set()

    def load(self, pages: Iterable[list[SceneSummary]] | None = None) -> bool:
        """A full load (or reload); False when another load or refresh is running."""
        if not self._writer.acquire(blocking=False):
            return False
        try:
            self._load(pages)
            return True
        finally:
            self._writer.release()

    def load_until_ready(self) -> None:
        """The first load: retried with growing pauses until it succeeds or s2p stops."""
        attempt = 0
        while not self._stop.is_set():
            try:
                if self.load():
                    return
            except StashError as exc:
                delay = FIRST_LOAD_BACKOFF[min(attempt, len(FIRST_LOAD_BACKOFF) - 1)]
                log.warning("index: the first load failed (%s); matching asks Stash directly; retrying in %.0fs",
                            exc, delay)
                attempt += 1
                if self._sleep(delay):
                    return
            else:
                return  # someone else is loading

    def refresh(self, *, max_age: float = 0.0) -> int:
        """An incremental refresh; returns how many scenes changed (-1: skipped).
        ``max_age``: skip it (returning 0) when the index caught up that recently."""
        if max_age > 0 and self.refreshed_at is not None and self._clock() - self.refreshed_at < max_age:
            return 0
        if self._snapshot is None:  # the first load failed or is still running
            try:
                return 0 if self.load() else -1
            except StashError as exc:
                log.warning("index: still not loaded (%s); matching asks Stash directly", exc)
                return -1
        if not self._writer.acquire(blocking=False):
            return -1
        try:
            return self._refresh()
        finally:
            self._writer.release()

    def changed_since(self, stamp: str) -> list[tuple[str, str]] | None:
        """The ``(id, updated_at)`` of every scene Stash updated after ``stamp``
        (compared as text, as Stash does), once the index has caught up: live
        sync asks this, so one "updated since" query a cycle serves both.
        ``None`` while the index is not loaded."""
        self.refresh()
        snapshot = self._snapshot
        if snapshot is None:
            return None
        return [(record[ID], record[UPDATED_AT]) for record in list(snapshot.scenes.values())
                if record[UPDATED_AT] and record[UPDATED_AT] > stamp]

    def newest(self) -> str | None:
        """The latest ``updated_at`` the index has seen, or ``None``."""
        snapshot = self._snapshot
        return snapshot.newest if snapshot is not None else None

    def stale(self) -> None:
        """A lookup found a scene the index lacks: the next scheduled refresh
        runs even if live sync caught the index up a moment ago."""
        self._wanted = True

    def schedule(self, scheduler: Jobs) -> None:
        """Register the periodic jobs; the first load starts as soon as the scheduler does."""
        settings = self._settings

        def full() -> None:
            if self._snapshot is None:
                self.load_until_ready()
            else:
                self.load()

        def incremental() -> None:
            # Live sync refreshes the index every cycle; this job then has
            # nothing to add and skips, so Stash is asked once, not twice.
            wanted, self._wanted = self._wanted, False
            self.refresh(max_age=0.0 if wanted else settings.refresh_interval / 2)

        scheduler.add("index-load", settings.full_interval, full, first_delay=0)
        if settings.refresh_interval > 0:
            scheduler.add("index-refresh", settings.refresh_interval, incremental)

    def _pages(self, updated_after: str | None) -> Iterator[list[SceneSummary]]:
        after: str | None = None
        while True:
            page = None
            for attempt in range(PAGE_RETRIES):
                if self._stop.is_set():
                    raise _Stopped()
                try:
                    page = self._stash.summary_page(after_id=after, per_page=self._settings.page_size,
                                                    updated_after=updated_after)
                    break
                except StashAuthError:
                    raise
                except StashError as exc:
                    if attempt == PAGE_RETRIES - 1:
                        raise
                    log.info("index: a page failed (%s); retrying", exc)
                    if self._sleep(1.0 + 2 * attempt):
                        raise _Stopped() from None
            assert page is not None
            yield page.scenes
            if page.complete:
                return
            after = page.last_id

    def _load(self, pages: Iterable[list[SceneSummary]] | None) -> None:
        started = time.monotonic()
        previous = self._snapshot
        self._loading = True
        snap = Snapshot()
        try:
            for page in pages if pages is not None else self._pages(None):
                for scene in page:
                    snap.put(scene, self._path_map, previous)
        except _Stopped:
            return
        except StashError as exc:
            self.last_error = f"full load: {exc}"
            raise
        finally:
            self._loading = False
        snap.built_at = self._clock()
        self._snapshot = snap
        self.generation += 1
        self.build_seconds = time.monotonic() - started
        self.loaded_at = snap.built_at
        self.last_error = None
        self._ready.set()
        log.info("index: %d scenes, %d files loaded in %.1fs%s", len(snap.scenes), snap.files, self.build_seconds,
                 "" if previous is None else f" (was {len(previous.scenes)} scenes)")

    def _refresh(self) -> int:
        current = self._snapshot
        assert current is not None
        since = minus_seconds(current.newest, self._settings.overlap) if current.newest else None
        if current.newest and since is None:
            self.last_error = f"cannot read Stash's updated_at {current.newest!r}; waiting for the full reload"
            log.warning("index: %s", self.last_error)
            return -1
        changed: dict[str, SceneSummary] = {}  # by id: the overlap brings some scenes twice
        try:
            for page in self._pages(since):
                for scene in page:
                    changed[scene.id] = scene
        except _Stopped:
            return -1
        except StashError as exc:
            self.last_error = f"refresh: {exc}"
            log.warning("index: refresh failed (%s); keeping the index as it is", exc)
            return -1
        snap = current.copy() if changed else current
        count = sum(snap.put(scene, self._path_map) for scene in changed.values())
        if count:
            snap.built_at = self._clock()
            self._snapshot = snap
            self.generation += 1
            log.info("index: %d scene(s) changed since %s", count, since)
        self.refreshed_at = self._clock()
        self.last_changes = count
        self.last_error = None
        return count


class _Stopped(Exception):
    """s2p is shutting down: abandon the load, keep the old index."""
