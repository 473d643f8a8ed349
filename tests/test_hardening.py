"""The last holes (issue 31): ids Stash cannot hold, forged log lines, near
misses of the path secret, a bounded request capture and path rules that
backtrack.  Per-request behaviour is tried in-process with falcon.testing."""

from __future__ import annotations

import pytest

from helpers import in_process
from s2p.plex import contract
from s2p.tv import tree

# Nothing listens here: a request that reaches Stash fails at once (503).
STASH_DOWN = "http://127.0.0.1:9"


@pytest.fixture
def app(tmp_path):
    made = []

    def build(**overrides):
        client, services = in_process(STASH_DOWN, tmp_path / f"state{len(made)}", **overrides)
        made.append(services)
        return client

    yield build
    for services in made:
        services.stop()


@pytest.mark.parametrize("value, ok", [("1", True), ("2147483647", True), ("2147483648", False),
                                       ("9999999999999999999", False), ("99999999999", False), ("", False)])
def test_a_stash_id_is_a_32_bit_int(value, ok):
    assert contract.is_stash_id(value) is ok
    assert contract.is_rating_key(value) is ok
    assert (tree.parse_key(f"episode-{value}") is not None) is ok
    assert (tree.parse_key(f"show-{value}") is not None) is ok
    assert (tree.parse_key(f"season-{value}-2023") is not None) is ok


def test_an_id_stash_cannot_hold_is_404_not_stash_unavailable(app):
    client = app(tv={"enabled": True})
    for path in ("/tv/library/metadata/episode-9999999999999999999", "/library/metadata/9999999999999999999",
                 "/tv/library/metadata/show-2147483648/children"):
        answer = client.simulate_get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json["error"] == "unknown ratingKey"
    # The same shape within Stash's range does ask Stash, which is down here.
    assert client.simulate_get("/tv/library/metadata/episode-2147483647").status_code == 503


FORGED = "2026-01-01 00:00:00,000 WARNING s2p.sync.service: FORGED"


@pytest.fixture
def log_lines():
    """What s2p's own formatters write for the records of a test, text and JSON."""
    import io
    import logging

    from s2p.ops.logs import JsonFormatter, Redactor, TextFormatter

    streams = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = []
    for name, formatter in (("text", TextFormatter), ("json", JsonFormatter)):
        handler = logging.StreamHandler(streams[name])
        handler.setFormatter(formatter(Redactor([])))
        handlers.append(handler)
        logging.getLogger().addHandler(handler)
    yield lambda name: streams[name].getvalue().splitlines()
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("raw", ["%0a", "%0d%0a", "%00", "%c2%85", "%e2%80%a8"])
def test_a_path_cannot_forge_a_log_line(app, log_lines, raw):
    import json

    client = app()
    forged = FORGED.replace(" ", "%20")
    answer = client.simulate_get(f"/images/x{raw}{forged}")
    assert answer.status_code == 404
    lines = [line for line in log_lines("text") if "FORGED" in line]
    assert len(lines) == 1, lines  # the request's own line, nothing standing alone
    assert lines[0].index("FORGED") > lines[0].index("GET /images/x")
    assert not any(c in lines[0] for c in "\x00\r\x85\u2028")
    records = [json.loads(line) for line in log_lines("json") if "FORGED" in line]
    assert len(records) == 1 and records[0]["path"].startswith("/images/x")
    assert "\u2028" not in log_lines("json")[-1] and "\x85" not in log_lines("json")[-1]


def test_a_traceback_cannot_forge_a_log_line_either(log_lines):
    import logging

    try:
        raise ValueError(f"bad value\n{FORGED}")
    except ValueError:
        logging.getLogger("s2p.test").exception("failed on %s", "a\nb")
    text = log_lines("text")
    assert not any(line.startswith("2026-01-01") for line in text), text
    assert any("failed on a\\nb" in line for line in text) and any("FORGED" in line for line in text)
