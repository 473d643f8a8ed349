"""A bounded queue of work items with a due time, kept in SQLite (a restart
loses nothing): the artwork uploads and live sync's Plex refreshes.

One row per item.  Adding an item that is queued already keeps the one row
(its attempts and payload), brings its due time forward if the new one is
earlier and notes the time of this add (``added``: work queued after some
moment is newer than what was known then); it is queued, so ``add`` says
``True`` even when the queue is full.  A new item when the queue is full is turned away (``False``): the
owner says so, and the work comes back on its own (Plex asks again, Stash
is looked at again).  An item handed on and waiting to be confirmed
(``hold``) is made due again by a new ``add``: newer work supersedes it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from s2p.common.sqlitedb import Database

MAX_QUEUED = 100_000

# The queue's table, as a schema step of the file that holds it.
CREATE = """
CREATE TABLE IF NOT EXISTS queue (
    item       TEXT PRIMARY KEY,
    due        REAL NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    added      REAL NOT NULL,
    payload    TEXT NOT NULL DEFAULT '',
    held       INTEGER NOT NULL DEFAULT 0
)"""
INDEX = "CREATE INDEX IF NOT EXISTS queue_due ON queue (due)"


@dataclass(frozen=True)
class Entry:
    item: str
    due: float
    attempts: int  # failed tries so far
    last_error: str | None
    added: float  # when the item was last added
    payload: str
    held: int  # times it was handed on and waited for confirmation

    @property
    def scene_id(self) -> str:  # the queues' items are scene ids (or show-<id>)
        return self.item


_COLUMNS = "item, due, attempts, last_error, added, payload, held"


def adopt(conn: sqlite3.Connection, *, payload_from: str | None = None) -> None:
    """Make the shared queue's table, turning a queue table from before it
    (keyed by ``scene_id``) into one with its rows kept; ``payload_from``:
    the old column that becomes the payload (else it starts empty)."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(queue)")]
    if "scene_id" in columns:
        conn.execute("ALTER TABLE queue RENAME COLUMN scene_id TO item")
        if payload_from is not None:
            conn.execute(f"ALTER TABLE queue RENAME COLUMN {payload_from} TO payload")
        else:
            conn.execute("ALTER TABLE queue ADD COLUMN payload TEXT NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE queue ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
    conn.execute(CREATE)
    conn.execute(INDEX)


class DueQueue:
    def __init__(self, db: Database, *, limit: int = MAX_QUEUED):
        self._db = db
        self.limit = limit
        self._size: int | None = None  # counted when the file is opened, then kept in memory
        db.on_open(self._count)

    def _count(self, conn: sqlite3.Connection) -> None:
        self._size = conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0]

    def add(self, item: str, due: float, payload: str = "", *, now: float) -> bool:
        """Queue an item (see the module's docstring); ``False``: full, turned away."""

        def add(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("UPDATE queue SET due = MIN(due, ?), held = 0, added = ? WHERE item = ?",
                                  (due, now, item))
            if cursor.rowcount:
                return True
            if (self._size or 0) >= self.limit:
                return False
            conn.execute("INSERT INTO queue (item, due, added, payload) VALUES (?, ?, ?, ?)",
                         (item, due, now, payload))
            self._size = (self._size or 0) + 1
            return True

        return self._db.run(add)

    def due(self, now: float, limit: int = 100) -> list[Entry]:
        """The items due by ``now``, earliest first."""
        rows = self._db.run(lambda conn: conn.execute(
            f"SELECT {_COLUMNS} FROM queue WHERE due <= ? ORDER BY due, added LIMIT ?", (now, limit)).fetchall())
        return [Entry(*row) for row in rows]

    def get(self, item: str) -> Entry | None:
        row = self._db.run(lambda conn: conn.execute(f"SELECT {_COLUMNS} FROM queue WHERE item = ?",
                                                     (item,)).fetchone())
        return Entry(*row) if row else None

    def retry(self, item: str, due: float, attempts: int, error: str) -> None:
        """Try again at ``due``; ``attempts`` failed so far."""
        self._db.run(lambda conn: conn.execute(
            "UPDATE queue SET due = ?, attempts = ?, last_error = ? WHERE item = ?",
            (due, attempts, error[:500], item)))

    def hold(self, item: str, until: float, note: str) -> int:
        """Handed on, waiting for confirmation (``done``) until ``until``, when
        it is due again; the number of times it has been held."""

        def hold(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE queue SET due = ?, held = held + 1, last_error = ? WHERE item = ?",
                         (until, note[:500], item))
            row = conn.execute("SELECT held FROM queue WHERE item = ?", (item,)).fetchone()
            return int(row[0]) if row else 0

        return self._db.run(hold)

    def done(self, item: str, *, only_held: bool = False) -> bool:
        """Off the queue (``only_held``: only if it waits for confirmation); whether it was there."""

        def done(conn: sqlite3.Connection) -> bool:
            sql = "DELETE FROM queue WHERE item = ?" + (" AND held > 0" if only_held else "")
            removed = conn.execute(sql, (item,)).rowcount
            self._size = max(0, (self._size or 0) - removed)
            return bool(removed)

        return self._db.run(done)

    def pending(self) -> int:
        return self._db.run(lambda conn: self._size or 0)

    def entries(self) -> list[Entry]:
        rows = self._db.run(lambda conn: conn.execute(f"SELECT {_COLUMNS} FROM queue ORDER BY due").fetchall())
        return [Entry(*row) for row in rows]
