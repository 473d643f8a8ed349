"""The artwork upload queue and the record of what was uploaded, in SQLite.

Both live in the state directory so a restart loses no queued work and never
uploads a picture Plex already has.  The queue holds one row per scene
(asking again while it waits changes nothing) and is bounded: when full, new
scenes are turned away until it drains (Plex asks for them again at its next
refresh).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from s2p.common.statedir import ensure_state_dir

FILE_NAME = "artwork-push.sqlite3"
LOCK_NAME = "artwork-push.lock"
MAX_QUEUED = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    scene_id   TEXT PRIMARY KEY,
    due        REAL NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    added      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (due);
CREATE TABLE IF NOT EXISTS uploaded (
    server      TEXT NOT NULL,
    rating_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source      TEXT NOT NULL,
    scene_id    TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (server, rating_key, kind)
);
"""


@dataclass(frozen=True)
class QueuedScene:
    scene_id: str
    due: float
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Upload:
    sha256: str
    source: str


class PushQueue:
    def __init__(self, state_dir: str | os.PathLike, *, limit: int = MAX_QUEUED,
                 clock: Callable[[], float] = time.time):
        self._state_dir = state_dir
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._size = 0

    @property
    def path(self) -> Path:
        return Path(self._state_dir) / FILE_NAME

    def _open(self) -> sqlite3.Connection:
        # Opened on first use: building the services touches no disk.
        if self._db is None:
            path = ensure_state_dir(self._state_dir) / FILE_NAME
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            os.chmod(path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._size = db.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
            self._db = db
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Whether this process may work the queue now: only one process at a
        time does (two s2p sharing a state directory, or an old and a new
        container overlapping during a restart, would otherwise both upload)."""
        if fcntl is None:
            yield True
            return
        path = ensure_state_dir(self._state_dir) / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    # ------------------------------------------------------------ queue

    def add(self, scene_id: str, due: float) -> bool:
        """Queue a scene (no change if it is queued already); ``False`` when full."""
        with self._lock:
            db = self._open()
            if self._size >= self.limit:
                return db.execute("SELECT 1 FROM queue WHERE scene_id = ?", (scene_id,)).fetchone() is not None
            cursor = db.execute("INSERT OR IGNORE INTO queue (scene_id, due, added) VALUES (?, ?, ?)",
                                (scene_id, due, self._clock()))
            self._size += cursor.rowcount
            return True

    def due(self, now: float, limit: int = 100) -> list[QueuedScene]:
        with self._lock:
            rows = self._open().execute(
                "SELECT scene_id, due, attempts, last_error FROM queue WHERE due <= ? ORDER BY due LIMIT ?",
                (now, limit)).fetchall()
        return [QueuedScene(*row) for row in rows]

    def retry(self, scene_id: str, due: float, attempts: int, error: str) -> None:
        with self._lock:
            self._open().execute("UPDATE queue SET due = ?, attempts = ?, last_error = ? WHERE scene_id = ?",
                                 (due, attempts, error[:500], scene_id))

    def remove(self, scene_id: str) -> None:
        with self._lock:
            cursor = self._open().execute("DELETE FROM queue WHERE scene_id = ?", (scene_id,))
            self._size -= cursor.rowcount

    def pending(self) -> int:
        with self._lock:
            self._open()
            return self._size

    def entries(self) -> list[QueuedScene]:
        with self._lock:
            rows = self._open().execute(
                "SELECT scene_id, due, attempts, last_error FROM queue ORDER BY due").fetchall()
        return [QueuedScene(*row) for row in rows]

    # ------------------------------------------------------------ what Plex has

    def uploaded(self, server: str, rating_key: str, kind: str) -> Upload | None:
        with self._lock:
            row = self._open().execute(
                "SELECT sha256, source FROM uploaded WHERE server = ? AND rating_key = ? AND kind = ?",
                (server, rating_key, kind)).fetchone()
        return Upload(*row) if row else None

    def record(self, server: str, rating_key: str, kind: str, sha256: str, source: str, scene_id: str) -> None:
        with self._lock:
            self._open().execute(
                "INSERT OR REPLACE INTO uploaded (server, rating_key, kind, sha256, source, scene_id, uploaded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (server, rating_key, kind, sha256, source, scene_id, self._clock()))
