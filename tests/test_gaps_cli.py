"""``s2p gaps`` as cron runs it (a separate process), and what a process
killed in the middle of a comparison leaves behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from helpers import PLEX_ROOT, STASH_ROOT
from fakeplex import TOKEN, FakePlex
from s2p.demo.library import generate
from helpers import run, write_config

IDENT = "tv.plex.agents.custom.s2p"
SCENES = 400


@pytest.fixture
def library():
    return generate(SCENES, seed=5, root=STASH_ROOT)


@pytest.fixture
def plex(library):
    """Plex has every scene but every tenth, plus one file Stash lacks."""
    fake = FakePlex()
    fake.add_section(1, "Scenes", [PLEX_ROOT])
    for scene_id, record in library.scenes.items():
        if int(scene_id) % 10 == 0:
            continue
        files = [f["path"].replace(STASH_ROOT, PLEX_ROOT, 1) for f in record["files"]]
        fake.add_item(1, record["title"] or scene_id, files, guid=f"{IDENT}://movie/{scene_id}")
    fake.add_item(1, "Stray", [f"{PLEX_ROOT}/Stray/stray.mp4"], guid=f"{IDENT}://movie/1")
    fake.start()
    yield fake
    fake.stop()


def config_for(tmp_path, fake_stash, plex):
    return write_config(tmp_path, fake_stash.url, f'''
[plex]
url = "{plex.url}"
token = "{TOKEN}"
timeout = 5
''')


@pytest.mark.integration
def test_gaps_prints_the_report_and_exits_1_when_gaps_exist(tmp_path, fake_stash, plex):
    config = config_for(tmp_path, fake_stash, plex)
    result = run("gaps", config=config, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "In Stash, not in Plex" in result.stdout and f"{PLEX_ROOT}/Stray/stray.mp4" in result.stdout
    assert TOKEN not in result.stdout + result.stderr and "Traceback" not in result.stderr

    as_json = run("gaps", "--json", "--last", config=config, timeout=60)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["counts"]["stash_only"] == SCENES // 10 and report["counts"]["plex_only"] == 1
    assert report["last_run"]["status"] == "complete" and report["last_run"]["trigger"] == "cli"

    stray = next(g for g in report["gaps"] if g["kind"] == "plex_only")
    dismissed = run("gaps", "dismiss", str(stray["id"]), config=config, timeout=60)
    assert dismissed.returncode == 0 and f"#{stray['id']} dismissed" in dismissed.stdout
    # Nothing else of that kind is open: cron watching only that kind is content.
    only = run("gaps", "--last", "--json", "--kind", "plex_only", config=config, timeout=60)
    assert only.returncode == 0 and json.loads(only.stdout)["gaps"] == []


def test_gaps_exits_3_with_the_reason_when_plex_is_unreachable(tmp_path, fake_stash, plex):
    config = config_for(tmp_path, fake_stash, plex)
    plex.stop()
    result = run("gaps", config=config, timeout=60)
    assert result.returncode == 3
    assert "cannot reach Plex" in result.stderr and TOKEN not in result.stderr + result.stdout
    said = [line for line in result.stderr.splitlines() if "cannot reach Plex" in line]
    assert said and all(line.count("Fix:") == 1 for line in said), result.stderr
    without_plex = write_config(tmp_path / "other", fake_stash.url) if (tmp_path / "other").mkdir() is None else None
    result = run("gaps", config=without_plex, timeout=60)
    assert result.returncode == 3 and "[plex] url" in result.stderr


def _runs(database) -> list[tuple[int, str]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


@pytest.mark.integration
def test_a_process_killed_mid_comparison_leaves_a_store_that_opens_and_a_next_run_completes(
        tmp_path, fake_stash, plex):
    config = config_for(tmp_path, fake_stash, plex)
    database = tmp_path / "state" / "gaps.sqlite3"
    first = run("gaps", "--json", config=config, timeout=120)
    assert first.returncode == 1
    before = json.loads(first.stdout)
    # Slow Plex down so the next comparisons are caught in the middle.
    plex.latency = 0.3
    for delay in (0.0, 0.5):
        process = subprocess.Popen([sys.executable, "-m", "s2p", "--config", str(config), "gaps"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        known = max((run_id for run_id, _status in _runs(database)), default=0)
        deadline = time.monotonic() + 60
        while not any(status == "running" and run_id > known for run_id, status in _runs(database)):
            assert process.poll() is None, "the comparison ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        conn = sqlite3.connect(database)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        open_now = conn.execute("SELECT COUNT(*) FROM gaps WHERE resolved_at IS NULL").fetchone()[0]
        assert open_now == before["totals"]["open"]  # nothing lost, nothing half-applied
        conn.close()
    plex.latency = 0.0
    again = run("gaps", "--json", config=config, timeout=120)
    assert again.returncode == 1, again.stderr
    after = json.loads(again.stdout)
    assert after["last_run"]["status"] == "complete" and after["counts"] == before["counts"]
    statuses = [status for _id, status in _runs(database)]
    assert statuses[0] == "complete" and statuses[-1] == "complete"
    assert statuses[1:-1] == ["interrupted"] * 2


@pytest.mark.integration
def test_every_gap_of_a_kind_is_dismissed_in_one_command(tmp_path, fake_stash, plex):
    config = config_for(tmp_path, fake_stash, plex)
    assert run("gaps", config=config, timeout=120).returncode == 1
    dismissed = run("gaps", "dismiss", "--all-of", "stash_only", config=config, timeout=60)
    assert dismissed.returncode == 0, dismissed.stderr
    assert f"{SCENES // 10} open gap(s) of kind stash_only dismissed" in dismissed.stdout
    left = run("gaps", "--last", "--json", "--kind", "stash_only", config=config, timeout=60)
    assert left.returncode == 0 and json.loads(left.stdout)["gaps"] == []
    which = run("gaps", "dismiss", config=config, timeout=60)
    assert which.returncode == 2 and "Fix:" in which.stderr and "--all-of" in which.stderr


@pytest.mark.integration
def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path, fake_stash, plex):
    config = config_for(tmp_path, fake_stash, plex)
    assert run("gaps", config=config, timeout=120).returncode == 1
    command = [sys.executable, "-m", "s2p", "--config", str(config), "gaps", "--last", "--json"]
    for size in ("small", "large"):  # one flush at exit, or writes while printing
        extra = ["--state", "all"] if size == "large" else ["--kind", "plex_only"]
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has gone before the first line, as after `| head -0`
        try:
            result = subprocess.run(command + extra, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
        finally:
            os.close(write_end)
        err = result.stderr.decode()
        assert "Traceback" not in err and "BrokenPipeError" not in err, err
        assert result.returncode == 141
