"""The sync state in SQLite, in the state directory: Stash's time of the last
look, the versions already handled, and the queue of Plex refreshes."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from s2p.common import duequeue
from s2p.common.duequeue import DueQueue, Entry
from s2p.common.sqlitedb import Database

FILE_NAME = "sync.sqlite3"
MAX_QUEUED = duequeue.MAX_QUEUED
LOST = ("the queued Plex refreshes and the point sync had reached in Stash's history "
        "(sync starts again from now: edits made while s2p was down may need Refresh Metadata)")


def _version_1(conn: sqlite3.Connection) -> None:
    """What was seen and the shared queue's table; a file from before keeps its rows."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS seen (kind TEXT NOT NULL, id TEXT NOT NULL, stamp TEXT NOT NULL, "
                 "PRIMARY KEY (kind, id))")
    duequeue.adopt(conn, payload_from="reason")  # its reasons were the payload already


SCHEMA = [_version_1]

Queued = Entry  # payload: why the scene is queued


class SyncStore:
    def __init__(self, state_dir: str | os.PathLike, *, clock: Callable[[], float] = time.time,
                 limit: int = MAX_QUEUED):
        self._clock = clock
        self.db = Database(state_dir, FILE_NAME, SCHEMA, lost=LOST, clock=clock, timeout=10)
        self.queue = DueQueue(self.db, limit=limit)

    @property
    def path(self) -> Path:
        return self.db.path

    def close(self) -> None:
        self.db.close()

    def lost(self) -> dict[str, Any] | None:
        """A damaged file set aside in this process, for /healthz (None: none)."""
        return self.db.lost_report()

    # ------------------------------------------------------------ what was seen

    def since(self) -> str | None:
        row = self.db.run(lambda db: db.execute("SELECT value FROM meta WHERE key = 'since'").fetchone())
        return row[0] if row else None

    def advance(self, since: str, seen: Iterable[tuple[str, str, str]], prune_before: str | None) -> None:
        """One look's outcome, at once: the new high-water mark and the versions handled."""
        rows = list(seen)

        def advance(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('since', ?)", (since,))
            db.executemany("INSERT OR REPLACE INTO seen (kind, id, stamp) VALUES (?, ?, ?)", rows)
            if prune_before:
                db.execute("DELETE FROM seen WHERE stamp < ?", (prune_before,))

        self.db.transaction(advance)

    def seen(self, kind: str, ids: Iterable[str]) -> dict[str, str]:
        ids = list(ids)
        if not ids:
            return {}

        def seen(db: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = db.execute(f"SELECT id, stamp FROM seen WHERE kind = ? AND id IN ({','.join('?' * len(chunk))})",
                                  [kind, *chunk]).fetchall()
                found.update(dict(rows))
            return found

        return self.db.run(seen)

    # ------------------------------------------------------------ the refresh queue (common.duequeue's rules)

    def add(self, scene_id: str, reason: str, due: float) -> bool:
        """Queue a refresh; a scene already queued stays queued once (edits
        coalesce), and one waiting for Plex to fetch it is due again."""
        return self.queue.add(scene_id, due, reason, now=self._clock())

    def due(self, now: float, limit: int) -> list[Entry]:
        return self.queue.due(now, limit)

    def put_first(self, scene_id: str, reason: str) -> None:
        """Queue a refresh at the head of the queue (due since ever), or move a queued one there."""
        self.queue.add(scene_id, 0.0, reason, now=self._clock())

    def entry(self, scene_id: str) -> dict[str, Any] | None:
        """One queued refresh as it stands (reason, due, attempts, last error), or ``None``."""
        found = self.queue.get(scene_id)
        if found is None:
            return None
        return {"reason": found.payload, "due": found.due, "attempts": found.attempts,
                "last_error": found.last_error, "added": found.added, "waiting_for_plex": found.held > 0}

    def retry(self, scene_id: str, due: float, attempts: int, error: str) -> None:
        self.queue.retry(scene_id, due, attempts, error)

    def remove(self, scene_id: str) -> None:
        self.queue.done(scene_id)

    def pending(self) -> int:
        return self.queue.pending()
