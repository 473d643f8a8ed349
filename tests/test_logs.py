"""Logs of a real `s2p serve` process: one JSON object per line with
`[log] format = "json"`, readable text by default, the level obeyed, and
every Plex request logged with its route, outcome, scene, score and latency."""

from __future__ import annotations

import pytest

import io
import json
import logging
import threading

import requests

from helpers import API_KEY
from helpers import serve_and_call as serve_with
from s2p.ops import logs


def serve_and_call(tmp_path, stash_url: str, log_section: str, calls) -> str:
    returncode, err = serve_with(tmp_path, stash_url, calls, extra=log_section)
    assert returncode == 0, err
    return err


@pytest.mark.integration
def test_json_logs_one_object_per_line_with_request_fields(tmp_path, fake_stash):
    def calls(base):
        requests.post(base + "/library/metadata/matches",
                      json={"type": 1, "filename": "Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4"},
                      timeout=10)
        requests.get(base + "/library/metadata/3", timeout=10)
        requests.get(base + "/library/metadata/999", timeout=10)

    err = serve_and_call(tmp_path, fake_stash.url, '[log]\nformat = "json"\n', calls)
    lines = [line for line in err.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    requests_logged = [e for e in entries if e["logger"] == "s2p.web.middleware"]
    match = next(e for e in requests_logged if e["route"] == "/library/metadata/matches")
    assert match["status"] == 200 and match["method"] == "POST"
    assert match["scene"] == "1" and match["score"] >= 95 and match["step"]
    assert isinstance(match["latency_ms"], (int, float)) and match["client"] == "127.0.0.1"
    assert "scene 1" in match["outcome"]
    metadata = [e for e in requests_logged if e["route"] == "/library/metadata/{rating_key}"]
    assert {(e["status"], e.get("scene")) for e in metadata} == {(200, "3"), (404, None)}
    assert API_KEY not in err


@pytest.mark.integration
def test_text_logs_by_default_and_the_level_is_obeyed(tmp_path, fake_stash):
    def calls(base):
        requests.get(base + "/library/metadata/1", timeout=10)

    err = serve_and_call(tmp_path, fake_stash.url, '[log]\nlevel = "warning"\n', calls)
    assert err.strip(), "the loopback warning is logged"
    for line in err.splitlines():
        assert not line.startswith("{"), "text, not JSON"
        assert " INFO " not in line and " DEBUG " not in line
    assert "WARNING" in err and "/library/metadata/1" not in err

    err = serve_and_call(tmp_path, fake_stash.url, "", calls)
    request_lines = [line for line in err.splitlines() if "s2p.web.middleware" in line]
    assert any("GET /library/metadata/1 200 scene 1" in line and " ms)" in line for line in request_lines)


class CountingStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


def test_the_background_writer_writes_every_record_masked_in_batches_and_all_of_it_at_close():
    stream = CountingStream()
    secret = "s3cret-token-abcdef0123"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", "text", secrets=[secret], stream=stream, background=True)
    log = logging.getLogger("s2p.test.batches")
    try:
        def burst(n):
            for i in range(125):
                log.info("thread %d line %d token %s", n, i, secret)

        threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        [front] = root.handlers
        front.close()  # as at exit: what is queued is written
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 500
    assert secret not in stream.getvalue()
    for n in range(4):  # each thread's lines in the order it logged them
        mine = [line for line in lines if f"thread {n} " in line]
        assert [int(line.split(" line ")[1].split()[0]) for line in mine] == list(range(125))
    # Batched: a flush writes everything gathered in 50 ms, not one line each.
    assert stream.flushes <= 50
