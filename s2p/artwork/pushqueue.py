"""The artwork upload queue and the record of what was uploaded, in SQLite.

Both live in the state directory so a restart loses no queued work and never
uploads a picture Plex already has.  The queue holds one row per scene
(asking again while it waits keeps the one row; see ``common.duequeue``) and
is bounded: when full, new scenes are turned away until it drains (Plex asks
for them again at its next refresh).  A damaged file is set aside and a new
one started (``common.sqlitedb``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from s2p.common import duequeue
from s2p.common.duequeue import DueQueue, Entry
from s2p.common.sqlitedb import Database
from s2p.common.statedir import ensure_state_dir

FILE_NAME = "artwork-push.sqlite3"
LOCK_NAME = "artwork-push.lock"
MAX_QUEUED = duequeue.MAX_QUEUED
LOST = "the queued uploads and the record of what was uploaded (Plex's next reads queue them again)"

_UPLOADED = """
CREATE TABLE IF NOT EXISTS uploaded (
    server      TEXT NOT NULL,
    rating_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source      TEXT NOT NULL,
    scene_id    TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (server, rating_key, kind)
)"""


def _version_1(conn: sqlite3.Connection) -> None:
    """The shared queue's table; a file from before it keeps its rows."""
    duequeue.adopt(conn)
    conn.execute(_UPLOADED)


SCHEMA = [_version_1]

QueuedScene = Entry


@dataclass(frozen=True)
class Upload:
    sha256: str
    source: str


class PushQueue:
    def __init__(self, state_dir: str | os.PathLike, *, limit: int = MAX_QUEUED,
                 clock: Callable[[], float] = time.time):
        self._state_dir = state_dir
        self._clock = clock
        self.db = Database(state_dir, FILE_NAME, SCHEMA, lost=LOST, clock=clock, timeout=10)
        self.queue = DueQueue(self.db, limit=limit)

    @property
    def limit(self) -> int:
        return self.queue.limit

    @property
    def path(self) -> Path:
        return self.db.path

    def close(self) -> None:
        self.db.close()

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

    # ------------------------------------------------------------ queue (common.duequeue's rules)

    def add(self, scene_id: str, due: float) -> bool:
        """Queue a scene; ``False`` when full and the scene is not queued yet."""
        return self.queue.add(scene_id, due, now=self._clock())

    def due(self, now: float, limit: int = 100) -> list[Entry]:
        return self.queue.due(now, limit)

    def retry(self, scene_id: str, due: float, attempts: int, error: str) -> None:
        self.queue.retry(scene_id, due, attempts, error)

    def remove(self, scene_id: str) -> None:
        self.queue.done(scene_id)

    def pending(self) -> int:
        return self.queue.pending()

    def entries(self) -> list[Entry]:
        return self.queue.entries()

    def lost(self) -> dict | None:
        """A damaged file set aside in this process, for /healthz (None: none)."""
        return self.db.lost_report()

    # ------------------------------------------------------------ what Plex has

    def uploaded(self, server: str, rating_key: str, kind: str) -> Upload | None:
        row = self.db.run(lambda db: db.execute(
            "SELECT sha256, source FROM uploaded WHERE server = ? AND rating_key = ? AND kind = ?",
            (server, rating_key, kind)).fetchone())
        return Upload(*row) if row else None

    def record(self, server: str, rating_key: str, kind: str, sha256: str, source: str, scene_id: str) -> None:
        self.db.run(lambda db: db.execute(
            "INSERT OR REPLACE INTO uploaded (server, rating_key, kind, sha256, source, scene_id, uploaded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (server, rating_key, kind, sha256, source, scene_id, self._clock())))
