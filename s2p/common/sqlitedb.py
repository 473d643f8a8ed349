"""One way to keep state in SQLite: open with one set of pragmas, bring the
schema up to date by ``PRAGMA user_version``, and set a damaged file aside.

A damaged file (junk bytes, a truncated copy, a disk error that left it
malformed) must never stop the component that owns it: the file is renamed
with a timestamp, one WARNING names it, a fresh one is started, and the
owner can say what was lost (``Database.lost``) in /healthz.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from s2p.common.statedir import ensure_state_dir

log = logging.getLogger(__name__)

T = TypeVar("T")
# One step brings the schema from version n to n + 1 (steps[n]); each runs in
# its own transaction, so a killed process leaves a whole version behind.
Step = Callable[[sqlite3.Connection], None]

# WAL: readers never wait for the writer.  synchronous=NORMAL in WAL mode: a
# killed process loses nothing committed; only a power cut can lose the last
# transactions, never corrupt the file.
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")
# What SQLite says of a file that is not (or no longer) a database.
_DAMAGE = ("not a database", "malformed", "file is encrypted", "database corrupt", "disk image")


class NewerSchema(sqlite3.DatabaseError):
    """The file was written by a newer s2p."""

    def __init__(self, path: Path, found: int, known: int):
        super().__init__(f"{path.name} was written by a newer s2p (schema {found}, this s2p knows {known}). "
                         "Fix: upgrade s2p, or set [state] dir to another directory")
        self.found = found


@dataclass(frozen=True)
class SetAside:
    """A damaged file moved out of the way: where to, when, why, what it held."""

    file: str  # the new name (in the state directory)
    at: float
    reason: str
    lost: str

    def as_dict(self) -> dict[str, Any]:
        return {"set_aside_as": self.file, "at": round(self.at, 1), "reason": self.reason, "lost": self.lost}


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error means the file itself is unusable (not a lock or a full disk)."""
    if isinstance(exc, NewerSchema) or not isinstance(exc, sqlite3.DatabaseError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _DAMAGE)


def connect(path: Path, *, timeout: float = 30.0, read_only: bool = False) -> sqlite3.Connection:
    """A connection with s2p's pragmas: autocommit (explicit BEGIN), usable
    from any thread (callers serialize), the file owner-only."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        if read_only:
            conn.execute("PRAGMA query_only=ON")
        else:
            for pragma in PRAGMAS:
                conn.execute(pragma)
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, steps: Sequence[Step], path: Path) -> int:
    """Run the steps the file has not had yet; its ``user_version`` says how many it had."""
    known = len(steps)
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > known:
        raise NewerSchema(path, found, known)
    for version in range(found, known):
        with _transaction(conn):
            steps[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return known


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """All of the block or none of it (the connection runs in autocommit otherwise)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the first error is the one worth telling
        raise
    conn.execute("COMMIT")


def check(conn: sqlite3.Connection) -> None:
    """Read the whole file once: a truncated or overwritten file says so now,
    not in the middle of some later write."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError(f"database disk image is malformed ({'; '.join(problems)[:200]})")


def set_aside(path: Path, reason: BaseException | str, *, lost: str, clock: Callable[[], float] = time.time
              ) -> SetAside:
    """Rename a damaged file (and its -wal and -shm) with a timestamp; one WARNING names it."""
    now = clock()
    broken = path.with_name(f"{path.name}.broken-{int(now)}")
    n = 1
    while broken.exists():  # twice in one second: keep both
        broken = path.with_name(f"{path.name}.broken-{int(now)}-{n}")
        n += 1
    why = str(reason).splitlines()[0][:200] if str(reason) else type(reason).__name__
    log.warning("%s is damaged (%s): moved it to %s and started a new one; lost: %s", path, why, broken.name, lost)
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            source.replace(Path(str(broken) + suffix))
    return SetAside(broken.name, now, why, lost)


class Database:
    """One SQLite file in the state directory, opened on first use (building
    the services touches no disk), used under one lock.

    ``run(fn)`` runs ``fn(connection)``; when the file turns out damaged,
    at opening or at any later statement, it is set aside, a fresh one is
    made and ``fn`` runs once more on it.
    """

    def __init__(self, state_dir: str | os.PathLike, name: str, steps: Sequence[Step], *, lost: str,
                 clock: Callable[[], float] = time.time, timeout: float = 30.0):
        self._state_dir = state_dir
        self.name = name
        self._steps = list(steps)
        self._lost_text = lost  # what a damaged file held, in words (said in the WARNING and /healthz)
        self._clock = clock
        self._timeout = timeout
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._on_open: list[Callable[[sqlite3.Connection], None]] = []
        self.lost: list[SetAside] = []  # every file set aside in this process, oldest first

    @property
    def path(self) -> Path:
        return Path(self._state_dir) / self.name

    def on_open(self, hook: Callable[[sqlite3.Connection], None]) -> None:
        """Told of every connection opened, fresh files included (to read counts into memory)."""
        self._on_open.append(hook)

    def connection(self) -> sqlite3.Connection:
        with self.lock:
            if self._conn is None:
                path = ensure_state_dir(self._state_dir) / self.name
                try:
                    self._conn = self._open(path)
                except sqlite3.DatabaseError as exc:
                    if not is_damage(exc):
                        raise
                    self.lost.append(set_aside(path, exc, lost=self._lost_text, clock=self._clock))
                    self._conn = self._open(path)
            return self._conn

    def _open(self, path: Path) -> sqlite3.Connection:
        conn = connect(path, timeout=self._timeout)
        try:
            check(conn)
            migrate(conn, self._steps, path)
            for hook in self._on_open:
                hook(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self.lock:
            conn = self.connection()
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self._close()
                self.lost.append(set_aside(self.path, exc, lost=self._lost_text, clock=self._clock))
            return fn(self.connection())

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one transaction: all of it or none."""

        def whole(conn: sqlite3.Connection) -> T:
            with _transaction(conn):
                return fn(conn)

        return self.run(whole)

    def lost_report(self) -> dict[str, Any] | None:
        """For /healthz: the last file set aside (and how many were), or None."""
        if not self.lost:
            return None
        return {**self.lost[-1].as_dict(), "times": len(self.lost)}

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def close(self) -> None:
        with self.lock:
            self._close()
