import threading
import time

import pytest

from s2p.common.statedir import StateDirError, ensure_state_dir, write_atomically
from s2p.ops.scheduler import Scheduler


def test_jobs_run_periodically_and_never_overlap_themselves():
    scheduler = Scheduler()
    runs = []
    active = []

    def slow():
        active.append(1)
        assert len(active) == 1
        runs.append(time.monotonic())
        time.sleep(0.15)
        active.pop()

    scheduler.add("slow", 0.05, slow, first_delay=0)
    scheduler.start()
    time.sleep(0.5)
    scheduler.stop()
    assert 2 <= len(runs) <= 5
    assert scheduler.status()["slow"]["runs"] == len(runs)


def test_a_failing_job_is_recorded_and_others_keep_running():
    scheduler = Scheduler()
    ok = threading.Event()
    scheduler.add("bad", 0.05, lambda: 1 / 0, first_delay=0)
    scheduler.add("good", 0.05, ok.set, first_delay=0.1)
    scheduler.start()
    assert ok.wait(2)
    scheduler.stop()
    assert "ZeroDivisionError" in scheduler.status()["bad"]["last_error"]


def test_triggered_job_runs_without_an_interval():
    scheduler = Scheduler()
    done = threading.Event()
    scheduler.add("manual", 0, done.set)
    scheduler.start()
    assert not done.wait(0.2)
    scheduler.trigger("manual")
    assert done.wait(2)
    scheduler.stop()


def test_state_dir_is_created_private_and_files_written_atomically(tmp_path):
    directory = ensure_state_dir(tmp_path / "a" / "b")
    assert directory.is_dir() and (directory.stat().st_mode & 0o777) == 0o700
    target = directory / "secret"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two" and (target.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in directory.iterdir()] == ["secret"]


def test_unwritable_state_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateDirError, match=r"\[state\] dir"):
        ensure_state_dir(blocker / "sub")
