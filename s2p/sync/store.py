"""The sync state in SQLite, in the state directory: Stash's time of the last
look, the versions already handled, and the queue of Plex refreshes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from s2p.common.statedir import ensure_state_dir

FILE_NAME = "sync.sqlite3"
MAX_QUEUED = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS seen (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    stamp TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS queue (
    scene_id   TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    due        REAL NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    added      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (due);
"""


@dataclass(frozen=True)
class Queued:
    scene_id: str
    reason: str
    attempts: int


class SyncStore:
    def __init__(self, state_dir: str | os.PathLike, *, clock: Callable[[], float] = time.time):
        self._state_dir = state_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:  # on first use: building the services touches no disk
            path = ensure_state_dir(self._state_dir) / FILE_NAME
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            os.chmod(path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    @property
    def path(self) -> Path:
        return Path(self._state_dir) / FILE_NAME

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------ what was seen

    def since(self) -> str | None:
        with self._lock:
            row = self._open().execute("SELECT value FROM meta WHERE key = 'since'").fetchone()
        return row[0] if row else None

    def advance(self, since: str, seen: Iterable[tuple[str, str, str]], prune_before: str | None) -> None:
        """One look's outcome, at once: the new high-water mark and the versions handled."""
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            try:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('since', ?)", (since,))
                db.executemany("INSERT OR REPLACE INTO seen (kind, id, stamp) VALUES (?, ?, ?)", list(seen))
                if prune_before:
                    db.execute("DELETE FROM seen WHERE stamp < ?", (prune_before,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def seen(self, kind: str, ids: Iterable[str]) -> dict[str, str]:
        ids = list(ids)
        if not ids:
            return {}
        with self._lock:
            db = self._open()
            found: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = db.execute(f"SELECT id, stamp FROM seen WHERE kind = ? AND id IN ({','.join('?' * len(chunk))})",
                                  [kind, *chunk]).fetchall()
                found.update(dict(rows))
            return found

    # ------------------------------------------------------------ the refresh queue

    def add(self, scene_id: str, reason: str, due: float) -> bool:
        """Queue a refresh; a scene already queued stays queued once (edits coalesce)."""
        with self._lock:
            db = self._open()
            if db.execute("SELECT COUNT(*) FROM queue").fetchone()[0] >= MAX_QUEUED:
                return False
            db.execute("INSERT OR IGNORE INTO queue (scene_id, reason, due, added) VALUES (?, ?, ?, ?)",
                       (scene_id, reason, due, self._clock()))
            return True

    def put_first(self, scene_id: str, reason: str) -> None:
        """Queue a refresh at the head of the queue (due since ever), or move a queued one there."""
        with self._lock:
            self._open().execute("INSERT INTO queue (scene_id, reason, due, added) VALUES (?, ?, 0, ?) "
                                 "ON CONFLICT (scene_id) DO UPDATE SET due = 0, reason = excluded.reason",
                                 (scene_id, reason, self._clock()))

    def entry(self, scene_id: str) -> dict[str, Any] | None:
        """One queued refresh as it stands (reason, due, attempts, last error), or ``None``."""
        with self._lock:
            row = self._open().execute("SELECT reason, due, attempts, last_error, added FROM queue "
                                       "WHERE scene_id = ?", (scene_id,)).fetchone()
        return None if row is None else dict(zip(("reason", "due", "attempts", "last_error", "added"), row, strict=True))

    def due(self, now: float, limit: int) -> list[Queued]:
        with self._lock:
            rows = self._open().execute("SELECT scene_id, reason, attempts FROM queue WHERE due <= ? "
                                        "ORDER BY due, added LIMIT ?", (now, limit)).fetchall()
        return [Queued(*row) for row in rows]

    def retry(self, scene_id: str, due: float, attempts: int, error: str) -> None:
        with self._lock:
            self._open().execute("UPDATE queue SET due = ?, attempts = ?, last_error = ? WHERE scene_id = ?",
                                 (due, attempts, error[:500], scene_id))

    def remove(self, scene_id: str) -> None:
        with self._lock:
            self._open().execute("DELETE FROM queue WHERE scene_id = ?", (scene_id,))

    def pending(self) -> int:
        with self._lock:
            return self._open().execute("SELECT COUNT(*) FROM queue").fetchone()[0]
