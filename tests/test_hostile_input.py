"""Absurd and malicious requests get a 4xx JSON answer, never a 500 or a
stack trace; user data reaches Stash only as GraphQL variables."""

from __future__ import annotations

import pytest

import ast
import json
import re
from pathlib import Path

import requests

from s2p.stash import queries

MATCHES = "/library/metadata/matches"
TV_MATCHES = "/tv/library/metadata/matches"
S2P_SOURCE = Path(__file__).resolve().parent.parent / "s2p"


def assert_json_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# ---------------------------------------------------------------- sizes

def test_ten_megabyte_filename_in_the_body(s2p):
    body = json.dumps({"type": 1, "filename": "a" * 10_000_000}).encode()
    error = assert_json_error(s2p.post(MATCHES, data=body, headers={"Content-Type": "application/json"}), 413)
    assert "65536" in error["detail"]


def test_ten_megabyte_filename_within_a_raised_body_limit_is_dropped_not_echoed(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"max_body": 16 * 1024 * 1024})
    response = s2p.post(MATCHES, json={"type": 1, "filename": "a" * 10_000_000})
    assert response.status_code == 200 and response.json()["MediaContainer"]["size"] == 0
    assert len(response.content) < 2000, "the value is never echoed back"
    assert dropped(s2p, "filename") == 1


@pytest.mark.integration
def test_body_without_content_length_is_still_bounded(s2p):
    def chunks():
        for _ in range(100):
            yield b"[" * 1024

    assert_json_error(s2p.post(MATCHES, data=chunks(), headers={"Content-Type": "application/json"}), 413)


def test_long_query_string_is_414_json(s2p):
    response = s2p.post(MATCHES, params={"type": "1", "filename": "a" * 100_000})
    assert_json_error(response, 414)


# ---------------------------------------------------------------- encodings and characters

def test_nul_bytes_drop_the_value_and_the_match_goes_on(s2p):
    for hints in ({"title": "\x00"}, {"guid": "x\x00"}):
        found = s2p.match(type=1, filename="Harbour Films/extras/scene.mp4", **hints)
        assert [m["ratingKey"] for m in found.json()["MediaContainer"]["Metadata"]] == ["5"]
    assert s2p.match(type=1, filename="a\x00b.mp4").json()["MediaContainer"]["size"] == 0
    assert s2p.post(MATCHES, params={"type": "1", "filename": "a\x00b.mp4"}).status_code == 200
    assert (dropped(s2p, "title"), dropped(s2p, "guid"), dropped(s2p, "filename")) == (1, 1, 2)


def dropped(s2p, field: str) -> int:
    """How many values of this field s2p left out, as /metrics counts them."""
    text = s2p.get("/metrics").text
    found = re.search(rf'^s2p_plex_values_dropped_total{{field="{re.escape(field)}"}} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


@pytest.mark.integration
def test_invalid_utf8_in_the_query_string_is_400(s2p):
    response = s2p.post(f"{MATCHES}?type=1&filename=%FF%FEbad.mp4", timeout=10)
    error = assert_json_error(response, 400)
    assert error["problems"] == [{"field": "query string", "problem": "is not valid UTF-8"}]


@pytest.mark.integration
def test_invalid_utf8_in_the_path_is_400(s2p):
    for path in ("/library/metadata/%FF", "/images/scene/%C3%28/poster", "/%FF", "/healthz%FF"):
        assert_json_error(s2p.get(path, timeout=10), 400)


def test_lone_surrogates_in_json_drop_the_value(s2p):
    body = b'{"type": 1, "filename": "\\ud800.mp4", "title": "Office Affair"}'
    response = s2p.post(MATCHES, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and dropped(s2p, "filename") == 1


def test_good_unicode_still_matches(s2p):
    response = s2p.post(MATCHES, params={"type": "1", "filename": "日本の夏.mp4"})
    assert [m["ratingKey"] for m in response.json()["MediaContainer"]["Metadata"]] == ["8"]


# ---------------------------------------------------------------- numbers and types

# Valid JSON objects with odd values: each value is dropped, the match goes on.
ODD_BODIES = [
    (b'{"type": 1, "year": -2023}', "year"),
    (b'{"type": 1, "year": 1e400}', "year"),
    (b'{"type": 1, "year": ' + b"9" * 5000 + b"}", "year"),  # more digits than Python converts
    (b'{"type": 1, "duration": -1}', "duration"),
    (b'{"type": 1.5}', "type"),
    (b'{"type": 1, "title": ["a", "b"]}', "title"),
    (b'{"type": 1, "manual": "perhaps"}', "manual"),
    (b'{"type": 1, "ohash": "not-hex"}', "ohash"),
]
# Not a JSON object: refused.
BAD_BODIES = [
    b'{"type": 1, "year": NaN}',
    b'{"type": 1, "year": Infinity}',
    b'"just a string"',
    b"[1, 2]",
    b"null1",
    b'{"type": 1',
]


def test_odd_values_are_dropped_and_counted(s2p):
    for body, _ in ODD_BODIES:
        response = s2p.post(MATCHES, data=body[:-1] + b', "filename": "Harbour Films/extras/scene.mp4"}',
                            headers={"Content-Type": "application/json"})
        assert response.status_code == 200, body[:60]
        assert [m["ratingKey"] for m in response.json()["MediaContainer"]["Metadata"]] == ["5"], body[:60]
    for field in {f for _, f in ODD_BODIES}:
        assert dropped(s2p, field) == sum(1 for _, f in ODD_BODIES if f == field), field


def test_a_body_that_is_not_a_json_object_is_400(s2p):
    for body in BAD_BODIES:
        response = s2p.post(MATCHES, data=body, headers={"Content-Type": "application/json"})
        assert_json_error(response, 400)


def test_json_depth_is_limited(s2p):
    for depth, status in ((5, 200), (20, 200), (21, 400), (5000, 400), (30000, 400)):
        body = b'{"type": 1, "extra": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
        response = s2p.post(MATCHES, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status, depth
        if status == 400:
            assert "nested" in assert_json_error(response, 400)["detail"]


@pytest.mark.integration
def test_absurd_paging_values_are_clamped_or_dropped_on_every_plex_route(s2p):
    season = s2p.get("/tv/library/metadata/show-1/children").json()["MediaContainer"]["Metadata"][0]["ratingKey"]
    routes = (MATCHES, "/library/metadata/1", "/library/metadata/1/images", "/library/metadata/1/extras",
              TV_MATCHES, "/tv/library/metadata/show-1", "/tv/library/metadata/show-1/children",
              "/tv/library/metadata/show-1/grandchildren", f"/tv/library/metadata/{season}/children")
    for route in routes:
        method = "POST" if route in (MATCHES, TV_MATCHES) else "GET"
        hints = {"type": 4 if route == TV_MATCHES else 1}
        for value in ("1000000000000", "-1", "ten", "1e3", "9" * 5000, "5000"):
            for where in ("headers", "params"):
                for name in ("X-Plex-Container-Size", "X-Plex-Container-Start"):
                    response = requests.request(method, s2p.url + route, timeout=10, json=hints,
                                                **{where: {name: value}})
                    assert response.status_code == 200, (route, name, value[:20], where)
    # "ten" and 5000 nines (no finite number) on each route, each way; the rest is clamped.
    assert dropped(s2p, "X-Plex-Container-Size") == len(routes) * 2 * 2
    response = s2p.get("/library/metadata/1", headers={"X-Plex-Language": "x" * 500})
    assert response.status_code == 200 and dropped(s2p, "X-Plex-Language") == 1


def test_sensible_paging_values_are_accepted(s2p):
    headers = {"X-Plex-Container-Size": "50", "X-Plex-Container-Start": "0", "X-Plex-Language": "en-US"}
    assert s2p.get("/library/metadata/1", headers=headers).status_code == 200
    assert s2p.post(MATCHES, json={"type": 1, "filename": "日本の夏.mp4"}, headers=headers).status_code == 200


# ---------------------------------------------------------------- methods and errors

@pytest.mark.integration
def test_unsupported_methods_are_405_json(s2p):
    for method, path in (("DELETE", "/library/metadata/1"), ("PUT", MATCHES), ("POST", "/healthz"),
                         ("PATCH", "/images/scene/1/poster")):
        response = requests.request(method, s2p.url + path, timeout=10)
        assert_json_error(response, 405)
        assert response.headers["Allow"]


@pytest.mark.integration
def test_options_answers_json(s2p):
    response = requests.options(s2p.url + MATCHES, timeout=10)
    assert response.status_code == 200
    assert set(response.json()["allow"]) >= {"GET", "POST"}


def test_an_unexpected_failure_is_a_500_without_a_stack_trace(s2p, caplog):
    def broken(outcome):
        raise ZeroDivisionError("internal detail that must stay inside")

    s2p.services.observers.match.append(broken)
    response = s2p.match(type=1, filename="日本の夏.mp4")
    error = assert_json_error(response, 500)
    assert "internal detail" not in response.text and "ZeroDivisionError" not in response.text
    assert error["detail"] == "see s2p's log for details"
    # The operator still gets the whole story in the log.
    assert any(r.exc_info and "internal detail" in str(r.exc_info[1]) for r in caplog.records)
    s2p.services.observers.match.remove(broken)
    assert s2p.match(type=1, filename="日本の夏.mp4").status_code == 200


# ---------------------------------------------------------------- GraphQL documents

def test_graphql_documents_are_fixed_text():
    """Every Document is built once, at import, from literal text: no
    f-strings, no formatting, no string building anywhere."""
    tree = ast.parse((S2P_SOURCE / "stash" / "queries.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr), f"f-string at line {node.lineno}"
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            assert name in ("Document", "dataclass"), f"{name}() at line {node.lineno}"
            for arg in node.args:
                assert all(isinstance(n, (ast.Constant, ast.Name, ast.BinOp, ast.Add, ast.Load))
                           for n in ast.walk(arg)), f"computed document text at line {node.lineno}"
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in (
                "Document", "dataclass", "str", "annotations"):
            assert node.id.isupper() or node.id.startswith("_") and node.id[1:].isupper(), node.id
    assert len({d.text for d in queries.ALL_DOCUMENTS}) == len(queries.ALL_DOCUMENTS)


def test_no_document_is_made_outside_queries():
    for path in S2P_SOURCE.rglob("*.py"):
        if path.name == "queries.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Document":
                raise AssertionError(f"{path.relative_to(S2P_SOURCE)}:{node.lineno} builds a GraphQL document")


HOSTILE_TEXT = [
    '"){ __schema { types { name } } }#',
    "x\") { findScenes { count } } query Evil {",
    "{{id}} $filter ... on Scene",
    "Robert'); DROP TABLE scenes;--",
]


def test_hostile_hints_reach_stash_only_as_variables(s2p, fake_stash):
    seen: list[tuple[str, dict]] = []
    original = fake_stash.standin.executor

    def recording(document, variables, operation_name):
        seen.append((document, variables))
        return original(document, variables, operation_name)

    fake_stash.standin.executor = recording
    try:
        for text in HOSTILE_TEXT:
            for hints in ({"filename": f"Studio/{text}.mp4"}, {"title": text, "manual": 1}, {"guid": text},
                          {"title": text, "year": 2023}):
                response = s2p.match(type=1, **hints)
                assert response.status_code == 200, response.text
    finally:
        fake_stash.standin.executor = original
    fixed = {d.text for d in queries.ALL_DOCUMENTS}
    assert seen, "the hints were looked up in Stash"
    assert {document for document, _ in seen} <= fixed
    carried = json.dumps([variables for _, variables in seen], ensure_ascii=False)
    # The hints reached Stash (cleaned for a title search, escaped in a path
    # regex) inside the variables: the words show up there, never in a document.
    for word in ("__schema", "findScenes", "DROP", "filter"):
        assert word in carried, word
        assert all(word not in document or document in fixed for document, _ in seen)
