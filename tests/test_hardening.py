"""The last holes (issue 31): ids Stash cannot hold, forged log lines, near
misses of the path secret, a bounded request capture and path rules that
backtrack.  Per-request behaviour is tried in-process with falcon.testing."""

from __future__ import annotations

import json

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


# ---------------------------------------------------------------- near misses of the path secret

SECRET = "q7Hk2mVx9TbLw4NcRz8JpYd3Fs"  # 26 characters


def windows(secret: str, length: int = 12) -> list[str]:
    folded = secret.lower()
    return [folded[i:i + length] for i in range(len(folded) - length + 1)]


def holds_part_of_secret(text: str) -> bool:
    folded = text.lower()
    return any(part in folded for part in windows(SECRET))


NEAR_MISSES = [SECRET[:-1], SECRET[1:], SECRET[:13] + "x" + SECRET[13:], SECRET.upper()[:-1]]


@pytest.mark.parametrize("near", NEAR_MISSES)
@pytest.mark.parametrize("where", ["/tv/{near}/library/metadata/1", "/library/{near}", "/images/{near}/x",
                                   "/healthz/{near}", "/{secret}/{near}/library", "/{secret}{near}/x",
                                   "/library/metadata/x.{near}.y/"])
def test_a_near_miss_of_the_secret_anywhere_in_the_path_is_neither_logged_nor_kept(app, log_lines, near, where):
    client = app(server={"secret": SECRET}, debug={"capture": 10})
    path = where.format(near=near, secret=SECRET)
    answer = client.simulate_get(path, query_string=f"q={near}", headers={"X-Plex-Thing": near},
                                 body=f"{near}".encode())
    assert answer.status_code in (403, 404)
    text = "\n".join(log_lines("text") + log_lines("json"))
    assert "GET /" in text and not holds_part_of_secret(text), text
    kept = client.simulate_get("/debug/requests").json["requests"]
    assert len(kept) == (0 if where.startswith("/healthz") else 1)  # operator routes are not Plex's
    assert not holds_part_of_secret(json.dumps(kept)), kept


def test_the_secret_root_still_reads_as_its_masked_form_and_route_words_stay(app, log_lines):
    client = app(server={"secret": SECRET})
    assert client.simulate_get(f"/{SECRET}/library/metadata/1/extras").status_code == 200
    assert any(f"GET /***{SECRET[-4:]}/library/metadata/1/extras 200" in line for line in log_lines("text"))


# ---------------------------------------------------------------- [debug] capture

def one_record(client, method: str, path: str, **kwargs) -> dict:
    client.simulate_request(method, path, **kwargs)
    return client.simulate_get("/debug/requests").json["requests"][-1]


def test_a_record_holds_path_and_query_byte_for_byte(app):
    from s2p.ops.capture import from_sent

    client = app(server={"secret": SECRET}, debug={"capture": 10})
    query = "includeChildren=1&includeChildren=0&blank=&bare&a%20b=c+d&X-Plex-Token=abc&caf%C3%A9=%E2%9C%93"
    record = one_record(client, "GET", f"/{SECRET}/library/metadata/1/extras/", query_string=query)
    assert record["status"] == 200
    assert from_sent(record["raw_path"]) == f"/***{SECRET[-4:]}/library/metadata/1/extras/".encode()
    assert from_sent(record["raw_query"]) == query.replace("Token=abc", "Token=***").encode()
    assert record["answer"] == {"offset": 0, "size": 0, "totalSize": 0}


@pytest.mark.parametrize("body, status", [
    (b'{"type": 1, "title": "caf\xe9 \xff\xfe"}', 400),   # not UTF-8
    (b"not json at all \x00 \r\n", 400),                  # not JSON
    ('{"type": 1, "title": "Amélie"}'.encode(), 200),
])
def test_a_record_holds_the_body_byte_for_byte_even_when_refused(app, body, status):
    from s2p.ops.capture import from_sent

    client = app(debug={"capture": 10})
    record = one_record(client, "POST", "/library/metadata/matches", body=body,
                        headers={"Content-Type": "application/json"})
    assert record["status"] == status
    assert from_sent(record["body"]) == body and record["body_bytes"] == len(body)
    assert isinstance(record["body"], dict) == (body != body.decode("utf-8", "ignore").encode())


def test_a_refused_large_body_keeps_its_first_bytes(app):
    from s2p.ops.capture import MAX_BODY, from_sent

    client = app(debug={"capture": 10}, server={"max_body": 8192})
    body = ('{"title": "' + "é" * 9000 + '"}').encode()
    record = one_record(client, "POST", "/library/metadata/matches", body=body)
    assert record["status"] == 413 and record["body_bytes"] == len(body)
    kept = from_sent(record["body"])
    assert body.startswith(kept) and MAX_BODY - 4 < len(kept) <= MAX_BODY
    assert isinstance(record["body"], str)  # cut before a split character: still text


def test_records_are_bounded_in_bytes_each_and_in_all(app, tmp_path):
    from s2p.ops.capture import FILE_NAME, MAX_RECORD_BYTES, RequestCapture

    client = app(debug={"capture": 10000})
    headers = {f"X-Plex-H{n}": "v" * 1024 for n in range(240)}
    for n in range(20):
        client.simulate_get(f"/library/metadata/{n}/extras", headers=headers, query_string="x=" + "y" * 8000)
    answer = client.simulate_get("/debug/requests")
    records = answer.json["requests"]
    assert len(records) == 20
    assert all(len(json.dumps(r, ensure_ascii=False).encode()) <= MAX_RECORD_BYTES for r in records)
    assert len(answer.content) <= 20 * MAX_RECORD_BYTES + 200
    assert records[0]["fields_left_out"]["headers"] > 200 and "X-PLEX-H0" in records[0]["headers"]

    capture = RequestCapture(tmp_path, 10000, max_bytes=64 * 1024)
    for n in range(200):
        capture.add({"n": n, "headers": {f"h{i}": "v" * 500 for i in range(30)}})
        assert capture.size() <= 64 * 1024 and (tmp_path / FILE_NAME).stat().st_size <= 2 * 64 * 1024
    kept = capture.records()
    assert kept[-1]["n"] == 199 and 1 < len(kept) < 10
    assert [r["n"] for r in RequestCapture(tmp_path, 10000, max_bytes=64 * 1024).records()] == [r["n"] for r in kept]
