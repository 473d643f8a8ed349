"""Where gap records live: one SQLite file (WAL) in the state directory.

Every write runs on one writer thread.  Request threads hand it work
through a small bounded queue and never wait: when the queue is full the
observation is dropped and counted (the next full comparison finds what was
lost).  Work that must not be lost (a comparison's results, a dismissal)
waits for its turn instead.  A comparison's results land in one
transaction, so a process killed at any moment leaves either the previous
records or the new ones, never half of each.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from s2p.common import sqlitedb
from s2p.common.statedir import ensure_state_dir
from s2p.gaps.detect import SyncTimes
from s2p.gaps.records import KINDS, Gap

log = logging.getLogger(__name__)

FILE_NAME = "gaps.sqlite3"
SCHEMA_VERSION = 1
LOST = "the gap records and the record of what Plex fetched (the next comparison finds the gaps again)"
# Resolved records are kept this long (for "what changed lately"), then deleted.
KEEP_RESOLVED = 30 * 86400
BATCH = 500
# How long the writer lets observations gather before one transaction takes them all.
GATHER = 0.05

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    reason TEXT NOT NULL,
    version TEXT NOT NULL,
    plex_path TEXT, stash_path TEXT, scene_id TEXT, rating_key TEXT, section TEXT, title TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    seen_count INTEGER NOT NULL DEFAULT 1,
    last_run INTEGER,
    resolved_at REAL, resolution TEXT,
    dismissed_at REAL, dismissed_version TEXT,
    refreshed_at REAL, refreshed_version TEXT,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS gaps_by_state ON gaps (resolved_at, dismissed_at, kind);
CREATE TABLE IF NOT EXISTS served (
    scene_id TEXT PRIMARY KEY,
    served_at REAL NOT NULL,
    version TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    trigger TEXT,
    pid INTEGER,
    error TEXT,
    stats TEXT
);
"""

_UPSERT = """
INSERT INTO gaps (kind, key, reason, version, plex_path, stash_path, scene_id, rating_key, section, title,
                  detail, first_seen, last_seen, last_run)
VALUES (:kind, :key, :reason, :version, :plex_path, :stash_path, :scene_id, :rating_key, :section, :title,
        :detail, :now, :now, :run)
ON CONFLICT (kind, key) DO UPDATE SET
    reason = excluded.reason,
    plex_path = excluded.plex_path, stash_path = excluded.stash_path, scene_id = excluded.scene_id,
    rating_key = excluded.rating_key, section = excluded.section, title = excluded.title,
    detail = excluded.detail,
    -- a gap that comes back after being resolved starts over
    first_seen = CASE WHEN gaps.resolved_at IS NULL THEN gaps.first_seen ELSE excluded.first_seen END,
    seen_count = CASE WHEN gaps.resolved_at IS NULL THEN gaps.seen_count + 1 ELSE 1 END,
    resolved_at = NULL, resolution = NULL,
    -- dismissed stays dismissed only while the item is unchanged
    dismissed_at = CASE WHEN gaps.dismissed_version = excluded.version THEN gaps.dismissed_at END,
    dismissed_version = CASE WHEN gaps.dismissed_version = excluded.version THEN gaps.dismissed_version END,
    version = excluded.version,
    last_seen = excluded.last_seen,
    last_run = excluded.last_run
"""


class StoreError(Exception):
    """The gap store cannot be used; the message says why and what to do."""


class StoreBusy(StoreError):
    pass


class _Call:
    __slots__ = ("op", "future")

    def __init__(self, op: Op):
        self.op = op
        self.future: Future = Future()


_STOP = object()


class GapStore:
    def __init__(self, state_dir: str | os.PathLike, *, queue_size: int = 1000, clock: Callable[[], float] = time.time):
        self.path = Path(state_dir) / FILE_NAME
        self._state_dir = state_dir
        self._clock = clock
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.write_errors = 0
        self._last_drop_warning = 0.0
        self.lost: sqlitedb.SetAside | None = None  # a damaged file set aside at opening

    # ------------------------------------------------------------ life cycle

    def open(self) -> None:
        """Create or open the file, bring its schema up to date, start the writer."""
        if self._thread is not None:
            return
        try:
            ensure_state_dir(self._state_dir)
        except Exception as exc:
            raise StoreError(str(exc)) from None
        try:
            try:
                conn = self._connect_checked()
            except sqlite3.DatabaseError as exc:
                if not sqlitedb.is_damage(exc):
                    raise
                self.lost = sqlitedb.set_aside(self.path, exc, lost=LOST, clock=self._clock)
                conn = self._connect_checked()
        except sqlitedb.NewerSchema as exc:
            raise StoreError(f"the gap store {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the gap store {self.path}: {exc}") from None
        _mark_interrupted(conn)
        self._conn = conn
        self._thread = threading.Thread(target=self._write_loop, name="s2p-gaps-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None

    @property
    def is_open(self) -> bool:
        return self._thread is not None

    @property
    def depth(self) -> int:
        """Writes waiting for the writer thread."""
        return self._queue.qsize()

    def _connect_checked(self) -> sqlite3.Connection:
        conn = sqlitedb.connect(self.path, timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            sqlitedb.check(conn)
            _legacy_version_check(conn)
            sqlitedb.migrate(conn, SCHEMA, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    # ------------------------------------------------------------ writing

    def offer(self, op: Op) -> bool:
        """Queue a write without waiting; a full queue drops it (counted)."""
        if self._thread is None:
            return False
        try:
            self._queue.put_nowait(op)
            return True
        except queue.Full:
            with self._lock:
                self.dropped += 1
                now = time.monotonic()
                warn = now - self._last_drop_warning > 60
                if warn:
                    self._last_drop_warning = now
                dropped = self.dropped
            if warn:
                log.warning("gap store busy: %d observation(s) dropped so far (the next comparison "
                            "finds what they would have recorded)", dropped)
            return False

    def call(self, op: Callable[[sqlite3.Connection], T], timeout: float = 120.0) -> T:
        """Run a write on the writer thread in its own transaction and wait for it."""
        if self._thread is None:
            raise StoreError("the gap store is not open")
        call = _Call(op)
        try:
            self._queue.put(call, timeout=timeout)
        except queue.Full:
            raise StoreBusy("the gap store is too busy; try again") from None
        return call.future.result(timeout=timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is written."""
        self.call(lambda conn: None, timeout=timeout)

    def _write_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        stopping = False
        while not stopping:
            first = self._queue.get()
            if not isinstance(first, _Call) and first is not _STOP:
                # Observations come in bursts during a scan: gather them into one
                # transaction rather than waking (and committing) for each.
                time.sleep(GATHER)
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending: list[Op] = []
            for item in batch:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Call):
                    self._run_offers(conn, pending)
                    pending = []
                    self._run_call(conn, item)
                else:
                    pending.append(item)
            self._run_offers(conn, pending)
        conn.close()

    def _run_offers(self, conn: sqlite3.Connection, ops: list[Op]) -> None:
        if not ops:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                op(conn)
            conn.execute("COMMIT")
        except Exception:
            self.write_errors += 1
            log.exception("gap store: %d observation(s) could not be written", len(ops))
            _rollback(conn)

    def _run_call(self, conn: sqlite3.Connection, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = call.op(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            _rollback(conn)
            call.future.set_exception(exc)
        else:
            call.future.set_result(result)

    # ------------------------------------------------------------ reading

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read-only connection of its own (WAL: readers never
        wait for the writer)."""
        if not self.path.exists():
            raise StoreError("the gap store does not exist yet")
        conn = sqlitedb.connect(self.path, timeout=30, read_only=True)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            conn.close()


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _version_1(conn: sqlite3.Connection) -> None:
    # executescript() would commit half-way; run the statements one by one.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    # Kept for an older s2p opening this file: it reads its schema version here.
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


SCHEMA = [_version_1]


def _legacy_version_check(conn: sqlite3.Connection) -> None:
    """Files from before ``user_version`` keep their version in ``meta``."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = int(row[0]) if row else None
        if found is not None and found > SCHEMA_VERSION:
            raise sqlitedb.NewerSchema(Path(FILE_NAME), found, SCHEMA_VERSION)


def _mark_interrupted(conn: sqlite3.Connection) -> None:
    """Runs left 'running' by a process that no longer exists were cut short."""
    rows = conn.execute("SELECT id, pid, started_at FROM runs WHERE status = 'running'").fetchall()
    dead = [row["id"] for row in rows if not _alive(row["pid"], row["started_at"])]
    if dead:
        conn.execute(f"UPDATE runs SET status = 'interrupted', error = 'the process stopped during the comparison' "
                     f"WHERE id IN ({','.join('?' * len(dead))})", dead)


def _alive(pid: int | None, run_started_at: float | None = None) -> bool:
    """Whether the process that began a run may still be running it."""
    # Our own pid here belongs to an earlier process (containers reuse pid 1):
    # this one has not started a comparison before opening the store.
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        pass
    started = process_started_at(pid)
    # A process that started after the run began only reuses the pid of the one that began it.
    return not (started is not None and run_started_at is not None and started > run_started_at + 1.0)


def process_started_at(pid: int) -> float | None:
    """When a process started (Unix time), where /proc says; ``None`` elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


# ---------------------------------------------------------------- operations (run on the writer thread)


def _gap_row(gap: Gap, now: float, run: int | None) -> dict[str, Any]:
    return {"kind": gap.kind, "key": gap.key, "reason": gap.reason, "version": gap.version,
            "plex_path": gap.plex_path, "stash_path": gap.stash_path, "scene_id": gap.scene_id,
            "rating_key": gap.rating_key, "section": gap.section, "title": gap.title,
            "detail": json.dumps(dict(gap.detail), ensure_ascii=False, default=str), "now": now, "run": run}


def upsert_gaps(conn: sqlite3.Connection, gaps: Iterable[Gap], now: float, run: int | None = None) -> None:
    conn.executemany(_UPSERT, (_gap_row(g, now, run) for g in gaps))


def resolve(conn: sqlite3.Connection, kind: str, key: str, now: float, why: str) -> int:
    return conn.execute("UPDATE gaps SET resolved_at = ?, resolution = ? WHERE kind = ? AND key = ? "
                        "AND resolved_at IS NULL", (now, why, kind, key)).rowcount


def resolve_ids(conn: sqlite3.Connection, settled: Sequence[tuple[int, str]], now: float) -> None:
    conn.executemany("UPDATE gaps SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
                     [(now, why, record_id) for record_id, why in settled])


def resolve_unseen(conn: sqlite3.Connection, kinds: Sequence[str], run: int, now: float) -> int:
    marks = ",".join("?" * len(kinds))
    return conn.execute(
        f"UPDATE gaps SET resolved_at = ?, resolution = 'no longer found by the comparison' "
        f"WHERE resolved_at IS NULL AND kind IN ({marks}) AND (last_run IS NULL OR last_run != ?)",
        (now, *kinds, run)).rowcount


def prune(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM gaps WHERE resolved_at IS NOT NULL AND resolved_at < ?",
                        (now - KEEP_RESOLVED,)).rowcount


def record_served(conn: sqlite3.Connection, scene_id: str, served_at: float, version: str | None) -> None:
    conn.execute("INSERT INTO served (scene_id, served_at, version) VALUES (?, ?, ?) "
                 "ON CONFLICT (scene_id) DO UPDATE SET served_at = excluded.served_at, version = excluded.version",
                 (scene_id, served_at, version))


def served_times(conn: sqlite3.Connection) -> dict[str, SyncTimes]:
    return {row[0]: SyncTimes(served_at=row[1], served_version=row[2])
            for row in conn.execute("SELECT scene_id, served_at, version FROM served")}


def begin_run(conn: sqlite3.Connection, now: float, trigger: str) -> int:
    run = conn.execute("INSERT INTO runs (started_at, status, trigger, pid) VALUES (?, 'running', ?, ?)",
                       (now, trigger, os.getpid())).lastrowid
    assert run is not None  # an INSERT sets it
    return run


def finish_run(conn: sqlite3.Connection, run: int, now: float, status: str, *, error: str | None = None,
               stats: dict | None = None) -> None:
    conn.execute("UPDATE runs SET finished_at = ?, status = ?, error = ?, stats = ? WHERE id = ?",
                 (now, status, error, json.dumps(stats) if stats is not None else None, run))
    # Keep the run history short.
    conn.execute("DELETE FROM runs WHERE id <= ? - 200", (run,))


def set_dismissed(conn: sqlite3.Connection, gap_id: int, now: float, dismissed: bool) -> bool:
    if dismissed:
        cursor = conn.execute("UPDATE gaps SET dismissed_at = ?, dismissed_version = version WHERE id = ?",
                              (now, gap_id))
    else:
        cursor = conn.execute("UPDATE gaps SET dismissed_at = NULL, dismissed_version = NULL WHERE id = ?",
                              (gap_id,))
    return cursor.rowcount > 0


def mark_refreshed(conn: sqlite3.Connection, gap_id: int, now: float, version: str) -> None:
    conn.execute("UPDATE gaps SET refreshed_at = ?, refreshed_version = ? WHERE id = ?", (now, version, gap_id))


# ---------------------------------------------------------------- queries (any connection)


def open_keys(conn: sqlite3.Connection, kinds: Sequence[str]) -> list[tuple[int, str, str, float]]:
    """(id, kind, key, last seen) of every unresolved record of these kinds."""
    marks = ",".join("?" * len(kinds))
    return [(row["id"], row["kind"], row["key"], row["last_seen"]) for row in conn.execute(
        f"SELECT id, kind, key, last_seen FROM gaps WHERE resolved_at IS NULL AND kind IN ({marks})", tuple(kinds))]


def unvouched(conn: sqlite3.Connection, kinds: Sequence[str]) -> set[int]:
    """Ids of unresolved records of these kinds from requests not known to come from Plex."""
    marks = ",".join("?" * len(kinds))
    found = set()
    for row in conn.execute(f"SELECT id, detail FROM gaps WHERE resolved_at IS NULL AND kind IN ({marks})",
                            tuple(kinds)):
        try:
            if json.loads(row["detail"] or "{}").get("from_plex") is False:
                found.add(row["id"])
        except (ValueError, AttributeError):
            continue
    return found


def dismiss_kind(conn: sqlite3.Connection, kind: str, now: float) -> int:
    """Dismiss every open record of one kind; how many were dismissed."""
    return conn.execute("UPDATE gaps SET dismissed_at = ?, dismissed_version = version WHERE kind = ? "
                        "AND resolved_at IS NULL AND dismissed_at IS NULL", (now, kind)).rowcount


STATES = ("open", "dismissed", "resolved", "all")


def _state_clause(state: str) -> str:
    return {
        "open": "resolved_at IS NULL AND dismissed_at IS NULL",
        "dismissed": "resolved_at IS NULL AND dismissed_at IS NOT NULL",
        "resolved": "resolved_at IS NOT NULL",
        "all": "1",
    }[state]


def counts(conn: sqlite3.Connection, state: str = "open") -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute(
        f"SELECT kind, COUNT(*) FROM gaps WHERE {_state_clause(state)} GROUP BY kind")}


def state_totals(conn: sqlite3.Connection) -> dict[str, int]:
    return {state: conn.execute(f"SELECT COUNT(*) FROM gaps WHERE {_state_clause(state)}").fetchone()[0]
            for state in STATES if state != "all"}


def list_gaps(conn: sqlite3.Connection, *, kinds: Sequence[str], state: str = "open", offset: int = 0,
              limit: int | None = None) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(kinds))
    order = " ".join(f"WHEN '{kind}' THEN {n}" for n, kind in enumerate(KINDS))
    sql = (f"SELECT * FROM gaps WHERE {_state_clause(state)} AND kind IN ({marks}) "
           f"ORDER BY CASE kind {order} ELSE 99 END, section, COALESCE(plex_path, stash_path, key), id")
    params: list[Any] = list(kinds)
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [_row(row) for row in conn.execute(sql, params)]


def scene_gaps(conn: sqlite3.Connection, scene_id: str, plex_paths: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Unresolved records (open or dismissed) of one scene: by its id, or by a Plex path of its files."""
    paths = list(plex_paths)[:50]
    by_path = f" OR plex_path IN ({','.join('?' * len(paths))})" if paths else ""
    return [_row(row) for row in conn.execute(
        f"SELECT * FROM gaps WHERE resolved_at IS NULL AND (scene_id = ?{by_path}) ORDER BY id",
        [scene_id, *paths])]


def served_time(conn: sqlite3.Connection, scene_id: str) -> SyncTimes | None:
    row = conn.execute("SELECT served_at, version FROM served WHERE scene_id = ?", (scene_id,)).fetchone()
    return SyncTimes(served_at=row[0], served_version=row[1]) if row else None


def get_gap(conn: sqlite3.Connection, gap_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM gaps WHERE id = ?", (gap_id,)).fetchone()
    return _row(row) if row else None


def last_runs(conn: sqlite3.Connection, limit: int = 1, *, finished: bool = False) -> list[dict[str, Any]]:
    where = "WHERE status != 'running'" if finished else ""
    rows = conn.execute(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    result = []
    for row in rows:
        run = dict(row)
        run["stats"] = json.loads(run["stats"]) if run["stats"] else None
        result.append(run)
    return result


def last_complete(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT MAX(finished_at) FROM runs WHERE status = 'complete'").fetchone()
    return row[0] if row else None


def stale_to_refresh(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    return [_row(row) for row in conn.execute(
        "SELECT * FROM gaps WHERE kind = 'stale' AND resolved_at IS NULL AND dismissed_at IS NULL "
        "AND rating_key IS NOT NULL AND (refreshed_version IS NULL OR refreshed_version != version) "
        "ORDER BY id LIMIT ?", (limit,))]


def _row(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    try:
        record["detail"] = json.loads(record["detail"] or "{}")
    except ValueError:
        record["detail"] = {}
    return record
