"""The shared persistence: one SQLite helper (pragmas, user_version
migration, a damaged file set aside), one due-queue and one backoff, as the
artwork-push queue, live sync's store and the gap store use them."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from helpers import FakeClock

from s2p.artwork.pushqueue import FILE_NAME as PUSH_FILE
from s2p.artwork.pushqueue import PushQueue
from s2p.common.backoff import Backoff
from s2p.common.duequeue import DueQueue
from s2p.common.sqlitedb import PRAGMAS, Database, NewerSchema
from s2p.gaps import store as gapdb
from s2p.gaps.store import GapStore
from s2p.sync.store import FILE_NAME as SYNC_FILE
from s2p.sync.store import SyncStore


def queue_file(tmp_path, clock=None, limit: int = 3) -> DueQueue:
    from s2p.common import duequeue

    def create(conn: sqlite3.Connection) -> None:
        conn.execute(duequeue.CREATE)
        conn.execute(duequeue.INDEX)

    db = Database(tmp_path, "q.sqlite3", [create], lost="the test queue", clock=clock or FakeClock(100.0))
    return DueQueue(db, limit=limit)


# ---------------------------------------------------------------- the due-queue's one set of rules

def test_re_adding_a_queued_item_keeps_one_row_and_is_accepted_even_when_full(tmp_path):
    queue = queue_file(tmp_path, limit=2)
    assert queue.add("a", 50.0, "first", now=10.0) and queue.add("b", 60.0, now=11.0)
    assert queue.add("c", 70.0, now=12.0) is False  # full: a new item is turned away
    # Queued already: accepted, one row, its payload kept, the time of the add noted; the due time only
    # moves earlier.
    assert queue.add("a", 80.0, "second", now=13.0) is True
    assert queue.add("b", 40.0, now=14.0) is True
    assert queue.pending() == 2
    a, b = queue.get("a"), queue.get("b")
    assert (a.due, a.payload, a.added) == (50.0, "first", 13.0)
    assert b.due == 40.0
    assert [e.item for e in queue.due(45.0)] == ["b"]


def test_retry_hold_and_done(tmp_path):
    queue = queue_file(tmp_path)
    queue.add("a", 1.0, now=0.0)
    queue.retry("a", 30.0, 1, "Plex: 503")
    [entry] = queue.entries()
    assert (entry.due, entry.attempts, entry.last_error) == (30.0, 1, "Plex: 503")
    assert queue.due(29.0) == []
    assert queue.hold("a", 600.0, "waiting") == 1 and queue.hold("a", 1200.0, "waiting") == 2
    assert queue.done("b", only_held=True) is False
    # A new add of a held item makes it due again: newer work supersedes what was handed on.
    queue.add("a", 5.0, now=3.0)
    assert (queue.get("a").due, queue.get("a").held) == (5.0, 0)
    assert queue.done("a", only_held=True) is False  # not held any more: stays
    queue.hold("a", 600.0, "waiting")
    assert queue.done("a", only_held=True) is True and queue.pending() == 0


def test_the_count_survives_reopening(tmp_path):
    queue = queue_file(tmp_path)
    queue.add("a", 1.0, now=0.0)
    queue.add("b", 1.0, now=0.0)
    queue._db.close()
    again = queue_file(tmp_path)
    assert again.pending() == 2
    assert again.add("c", 1.0, now=0.0) and again.add("d", 1.0, now=0.0) is False


def test_push_and_sync_follow_the_same_rules(tmp_path):
    push = PushQueue(tmp_path / "push", limit=1)
    sync = SyncStore(tmp_path / "sync", limit=1)
    assert push.add("1", 10.0) and sync.add("1", "edited", 10.0)
    # Queued already, queue full: both say it is queued (the sync store said False before).
    assert push.add("1", 20.0) is True and sync.add("1", "edited again", 20.0) is True
    assert push.add("2", 20.0) is False and sync.add("2", "edited", 20.0) is False
    push.close()
    sync.close()


# ---------------------------------------------------------------- one SQLite helper

def test_one_set_of_pragmas_and_a_user_version(tmp_path):
    for store, name in ((SyncStore(tmp_path), SYNC_FILE), (PushQueue(tmp_path), PUSH_FILE)):
        store.pending()
        conn = store.db.connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
        store.close()
    gaps = GapStore(tmp_path)
    gaps.open()
    gaps.close()
    conn = sqlite3.connect(tmp_path / gapdb.FILE_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert len(PRAGMAS) == 3


def test_a_file_of_a_newer_s2p_is_refused_with_the_fix(tmp_path):
    sync = SyncStore(tmp_path)
    sync.pending()
    sync.db.connection().execute("PRAGMA user_version = 7")
    sync.close()
    with pytest.raises(NewerSchema, match=r"newer s2p.*Fix: upgrade s2p"):
        SyncStore(tmp_path).pending()
    assert (tmp_path / SYNC_FILE).exists()  # refused, never set aside


def test_files_from_before_the_shared_queue_keep_their_rows(tmp_path):
    # The layout both queues had before (sync's had a reason column too).
    old = sqlite3.connect(tmp_path / SYNC_FILE)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE seen (kind TEXT NOT NULL, id TEXT NOT NULL, stamp TEXT NOT NULL, PRIMARY KEY (kind, id));
        CREATE TABLE queue (scene_id TEXT PRIMARY KEY, reason TEXT NOT NULL, due REAL NOT NULL,
                            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, added REAL NOT NULL);
        INSERT INTO meta VALUES ('since', '2025-01-01T00:00:00Z');
        INSERT INTO queue VALUES ('5', 'its title was edited', 3.0, 2, 'Plex: 503', 1.0);
    """)
    old.close()
    old = sqlite3.connect(tmp_path / PUSH_FILE)
    old.executescript("""
        CREATE TABLE queue (scene_id TEXT PRIMARY KEY, due REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                            last_error TEXT, added REAL NOT NULL);
        INSERT INTO queue VALUES ('9', 4.0, 1, NULL, 2.0);
    """)
    old.close()
    sync, push = SyncStore(tmp_path), PushQueue(tmp_path)
    [queued] = sync.due(10.0, 10)
    assert (queued.item, queued.payload, queued.attempts, queued.added) == ("5", "its title was edited", 2, 1.0)
    assert sync.since() == "2025-01-01T00:00:00Z" and sync.lost() is None
    [entry] = push.entries()
    assert (entry.scene_id, entry.due, entry.attempts) == ("9", 4.0, 1)
    sync.close()
    push.close()


def _truncated(path) -> None:
    """A real store, then cut short as a full disk or a torn copy leaves it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])


@pytest.mark.parametrize("damage", ["junk", "truncated"])
@pytest.mark.parametrize("kind", ["sync", "push"])
def test_a_damaged_queue_file_is_set_aside_and_a_fresh_one_started(tmp_path, caplog, damage, kind):
    caplog.set_level(logging.WARNING, logger="s2p")
    clock = FakeClock(1_700_000_000.0)
    name = SYNC_FILE if kind == "sync" else PUSH_FILE
    path = tmp_path / name
    if damage == "junk":
        path.write_bytes(b"\x00\xffnot sqlite at all" * 300)
    else:
        _truncated(path)
    store = SyncStore(tmp_path, clock=clock) if kind == "sync" else PushQueue(tmp_path, clock=clock)
    # The work goes on: the first use sets the file aside and starts a fresh one.
    if kind == "sync":
        assert store.add("1", "edited", clock.now) and store.due(clock.now, 10)[0].item == "1"
    else:
        assert store.add("1", clock.now) and store.due(clock.now)[0].item == "1"
    aside = tmp_path / f"{name}.broken-1700000000"
    assert aside.exists() and path.exists()
    lost = store.lost()
    assert lost["set_aside_as"] == aside.name and lost["times"] == 1 and lost["lost"]
    assert str(tmp_path) not in str(lost)  # /healthz names the file, never the state directory's path
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert name in line.getMessage() and aside.name in line.getMessage() and "lost:" in line.getMessage()
    store.close()


def test_a_file_damaged_between_two_uses_is_set_aside_at_the_next(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    store = SyncStore(tmp_path, clock=FakeClock(1_700_000_100.0))
    store.add("1", "edited", 0.0)
    store.close()  # the connection is opened again on the next use, as after a restart
    (tmp_path / SYNC_FILE).write_bytes(b"junk" * 2000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / (SYNC_FILE + suffix)).unlink(missing_ok=True)
    assert store.pending() == 0 and store.add("2", "edited", 0.0)
    assert [q.item for q in store.due(1.0, 10)] == ["2"]
    assert store.lost()["set_aside_as"] == f"{SYNC_FILE}.broken-1700000100"
    store.close()


def test_the_gap_store_sets_a_truncated_file_aside_through_the_same_helper(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    _truncated(tmp_path / gapdb.FILE_NAME)
    store = GapStore(tmp_path, clock=FakeClock(1_700_000_200.0))
    store.open()
    store.close()
    assert store.lost is not None and store.lost.file == f"{gapdb.FILE_NAME}.broken-1700000200"
    assert (tmp_path / store.lost.file).exists()
    assert any(r.levelno == logging.WARNING and store.lost.file in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- one backoff

def test_one_jitter_rule_half_to_all_of_the_doubling_wait_never_past_the_cap():
    backoff = Backoff(base=30.0, cap=100.0, attempts=4)
    assert [backoff.delay(n, rng=lambda: 0.0) for n in (1, 2, 3, 4)] == [15.0, 30.0, 50.0, 50.0]
    assert [backoff.delay(n, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [30.0, 60.0, 100.0, 100.0]
    assert not backoff.gives_up(3) and backoff.gives_up(4)


def test_push_sync_and_the_stash_client_share_the_rule():
    from s2p.artwork import push
    from s2p.stash import client
    from s2p.sync import service

    assert push.Backoff is Backoff and isinstance(service.BACKOFF, Backoff)
    assert isinstance(client.RETRY_BACKOFF, Backoff)
    # The Stash client's waits stay within its old cap of 2 s.
    assert client.RETRY_BACKOFF.delay(10, rng=lambda: 1.0) == 2.0


def test_healthz_says_what_a_damaged_store_lost(tmp_path):
    from helpers import in_process

    (tmp_path / SYNC_FILE).write_bytes(b"junk" * 1000)
    _truncated(tmp_path / PUSH_FILE)
    client, services = in_process("http://127.0.0.1:9", tmp_path, plex={"url": "http://127.0.0.1:9", "token": "t" * 20},
                                  sync={"interval": 3600}, artwork={"push": True}, gaps={"interval": 0},
                                  index={"enabled": False})
    try:
        answer = client.simulate_get("/healthz", remote_addr="127.0.0.1")
        assert answer.status_code in (200, 503)
        sync, push = answer.json["sync"], answer.json["artwork_push"]
        assert sync["store_set_aside"]["set_aside_as"].startswith(f"{SYNC_FILE}.broken-")
        assert "queued Plex refreshes" in sync["store_set_aside"]["lost"] and sync["queued"] == 0
        assert push["store_set_aside"]["set_aside_as"].startswith(f"{PUSH_FILE}.broken-")
        assert str(tmp_path) not in answer.text
        # Asked again, the same facts: the fresh files are used, nothing more is set aside.
        again = client.simulate_get("/healthz", remote_addr="127.0.0.1").json
        assert again["sync"]["store_set_aside"]["times"] == 1
    finally:
        services.stop()
