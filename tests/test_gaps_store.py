"""The gap store: records, dismissal, resolution, the bounded queue, bad files."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from s2p.gaps import store as db
from s2p.gaps.records import COMPARED_KINDS, PLEX_ONLY, STALE, Gap
from s2p.gaps.store import GapStore, StoreError


def gap(key: str, version: str = "v1", kind: str = PLEX_ONLY, reason: str = "why") -> Gap:
    return Gap(kind, key, reason, version, plex_path=f"/plex/{key}", stash_path=f"/stash/{key}")


@pytest.fixture
def store(tmp_path):
    s = GapStore(tmp_path / "state")
    s.open()
    yield s
    s.close()


def rows(store: GapStore, state: str = "open") -> dict[str, dict]:
    return {r["key"]: r for r in store.read(lambda c: db.list_gaps(c, kinds=COMPARED_KINDS, state=state))}


def test_the_file_is_private_wal_and_versioned(store):
    assert (store.path.stat().st_mode & 0o777) == 0o600
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(db.SCHEMA_VERSION)


def test_a_comparison_upserts_then_resolves_what_it_no_longer_finds(store):
    store.call(lambda c: db.upsert_gaps(c, [gap("a"), gap("b")], 100.0, run=1))
    store.call(lambda c: db.resolve_unseen(c, COMPARED_KINDS, 1, 100.0))
    assert set(rows(store)) == {"a", "b"}
    store.call(lambda c: db.upsert_gaps(c, [gap("a", reason="still")], 200.0, run=2))
    resolved = store.call(lambda c: db.resolve_unseen(c, COMPARED_KINDS, 2, 200.0))
    assert resolved == 1
    assert rows(store)["a"]["reason"] == "still" and rows(store)["a"]["seen_count"] == 2
    gone = rows(store, "resolved")["b"]
    assert gone["resolved_at"] == 200.0 and gone["resolution"] == "no longer found by the comparison"
    # It comes back: open again, counted afresh from now.
    store.call(lambda c: db.upsert_gaps(c, [gap("b")], 300.0, run=3))
    back = rows(store)["b"]
    assert back["resolved_at"] is None and back["first_seen"] == 300.0 and back["seen_count"] == 1


def test_dismissed_stays_hidden_until_the_item_changes(store):
    store.call(lambda c: db.upsert_gaps(c, [gap("a", "v1")], 100.0, run=1))
    gap_id = rows(store)["a"]["id"]
    assert store.call(lambda c: db.set_dismissed(c, gap_id, 150.0, True))
    store.call(lambda c: db.upsert_gaps(c, [gap("a", "v1")], 200.0, run=2))
    assert "a" not in rows(store) and rows(store, "dismissed")["a"]["dismissed_at"] == 150.0
    store.call(lambda c: db.upsert_gaps(c, [gap("a", "v2")], 300.0, run=3))
    assert rows(store)["a"]["dismissed_at"] is None
    assert not store.call(lambda c: db.set_dismissed(c, 12345, 1.0, True))


def test_counts_and_totals_follow_the_states(store):
    store.call(lambda c: db.upsert_gaps(c, [gap("a"), gap("b"), gap("s", kind=STALE)], 1.0, run=1))
    first = rows(store)["a"]["id"]
    store.call(lambda c: db.set_dismissed(c, first, 2.0, True))
    counts = store.read(lambda c: db.counts(c, "open"))
    assert counts == {PLEX_ONLY: 1, STALE: 1}
    assert store.read(db.state_totals) == {"open": 2, "dismissed": 1, "resolved": 0}


def test_a_full_queue_drops_observations_and_counts_them(tmp_path):
    store = GapStore(tmp_path, queue_size=2)
    store.open()
    entered, release = threading.Event(), threading.Event()

    def hold(conn):
        entered.set()
        release.wait(5)

    holder = threading.Thread(target=store.call, args=(hold,))
    holder.start()
    assert entered.wait(5)
    written = []
    results = [store.offer(lambda c, i=i: written.append(i)) for i in range(5)]
    assert results == [True, True, False, False, False] and store.dropped == 3
    release.set()
    holder.join(5)
    store.flush()
    assert written == [0, 1]
    store.close()


def test_a_failing_observation_does_not_stop_the_writer(store):
    store.offer(lambda c: c.execute("INSERT INTO nowhere VALUES (1)"))
    store.offer(lambda c: db.record_served(c, "7", 5.0, "v"))
    store.flush()
    # The batch with the bad write was rolled back as a whole; later ones land.
    store.offer(lambda c: db.record_served(c, "8", 6.0, None))
    store.flush()
    assert "8" in store.read(db.served_times) and store.write_errors == 1


def test_a_call_error_reaches_the_caller_and_rolls_back(store):
    def half(conn):
        db.upsert_gaps(conn, [gap("x")], 1.0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.call(half)
    assert rows(store) == {}


def test_an_unreadable_file_is_set_aside_and_a_new_one_started(tmp_path):
    (tmp_path / db.FILE_NAME).write_bytes(b"this is not a database at all" * 100)
    store = GapStore(tmp_path)
    store.open()
    store.call(lambda c: db.upsert_gaps(c, [gap("a")], 1.0))
    assert set(rows(store)) == {"a"}
    store.close()
    assert [p.name.startswith(f"{db.FILE_NAME}.broken-") for p in tmp_path.iterdir()].count(True) == 1


def test_a_newer_schema_is_refused_with_a_fix(tmp_path):
    store = GapStore(tmp_path)
    store.open()
    store.call(lambda c: c.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    store.close()
    with pytest.raises(StoreError, match=r"newer s2p.*\[state\] dir"):
        GapStore(tmp_path).open()


def test_runs_left_running_by_a_dead_process_are_marked_interrupted(tmp_path):
    store = GapStore(tmp_path)
    store.open()
    run = store.call(lambda c: db.begin_run(c, 1.0, "test"))
    store.call(lambda c: c.execute("UPDATE runs SET pid = 2147483646 WHERE id = ?", (run,)))
    store.close()
    again = GapStore(tmp_path)
    again.open()
    last = again.read(lambda c: db.last_runs(c, 1))[0]
    assert last["status"] == "interrupted" and "stopped" in last["error"]
    again.close()


def test_an_unwritable_state_dir_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"\[state\] dir"):
        GapStore(blocker / "sub").open()


def test_a_run_whose_pid_now_belongs_to_a_younger_process_is_marked_interrupted(tmp_path):
    import subprocess
    import sys
    import time

    younger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store = GapStore(tmp_path)
        store.open()
        # The run began an hour ago; the live process holding that pid now began a moment ago.
        run = store.call(lambda c: db.begin_run(c, time.time() - 3600, "test"))
        store.call(lambda c: c.execute("UPDATE runs SET pid = ? WHERE id = ?", (younger.pid, run)))
        store.close()
        again = GapStore(tmp_path)
        again.open()
        assert again.read(lambda c: db.last_runs(c, 1))[0]["status"] == "interrupted"
        again.close()
        # A run that process may really be running (it began after the process) stays "running".
        store = GapStore(tmp_path / "other")
        store.open()
        run = store.call(lambda c: db.begin_run(c, time.time(), "test"))
        store.call(lambda c: c.execute("UPDATE runs SET pid = ? WHERE id = ?", (younger.pid, run)))
        store.close()
        again = GapStore(tmp_path / "other")
        again.open()
        assert again.read(lambda c: db.last_runs(c, 1))[0]["status"] == "running"
        again.close()
    finally:
        younger.kill()
        younger.wait()
