"""Generated requests to every route of a running s2p.

The routes come from the server's own /openapi.json (which test_openapi
checks against the app).  Each example is one HTTP request with generated
path parameters, query, X-Plex-* headers and body.  Every answer must be
below 500 (503 only while Stash is down), JSON whenever it has a body
(except images and /metrics), free of stack traces, and the server must
still answer afterwards.

FUZZ_EXAMPLES sets the number of requests with Stash up (default 1600);
a quarter of that runs again with Stash down.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote, quote_from_bytes

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1600"))
COUNTS: dict[str, int] = {}

# ---------------------------------------------------------------- strategies

header_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
any_text = st.text(max_size=40)
big_int = st.integers(min_value=-(10**30), max_value=10**30)
ids = st.one_of(st.integers(0, 12).map(str), big_int.map(str), st.sampled_from(["", "..", "%2e%2e", "1.5", "-1"]),
                any_text,
                # The TV provider's keys, well-formed and nearly so.
                st.sampled_from(["show-1", "show-none", "season-1-2023", "season-none-0", "episode-1", "show-999",
                                 "season-1-99999", "episode-", "show-1-2", "episode-99999999999999999999"]))
json_scalars = st.one_of(st.none(), st.booleans(), big_int, st.floats(allow_nan=False, allow_infinity=False),
                         any_text, st.sampled_from(["日本の夏.mp4", "Harbour Films/extras/scene.mp4", "7"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(any_text, inner, max_size=4), max_leaves=6)
HINT_NAMES = ["type", "title", "year", "guid", "filename", "manual", "ohash", "duration", "includeAdult",
              "parentTitle", "grandparentTitle", "index", "parentIndex", "date", "includeChildren",
              "X-Plex-Container-Size", "X-Plex-Container-Start", "X-Plex-Language", "X-Plex-Client-Identifier"]
hint_objects = st.dictionaries(st.one_of(st.sampled_from(HINT_NAMES), any_text), json_values, max_size=8)
bodies = st.one_of(
    st.none(),
    hint_objects.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(1, 40).map(lambda n: b'{"a":' + b"[" * n + b"]" * n + b"}"),
    st.just(b'{"filename": "' + b"x" * 70_000 + b'"}'),
)
query_values = st.one_of(any_text, big_int.map(str), st.sampled_from(["1", "0", "true", "", "%FF"]))
queries = st.dictionaries(st.one_of(st.sampled_from(HINT_NAMES), header_text), query_values, max_size=6)
headers = st.dictionaries(st.sampled_from(["X-Plex-Container-Size", "X-Plex-Container-Start", "X-Plex-Language",
                                           "X-Plex-Country", "X-Plex-Client-Identifier", "X-Forwarded-For",
                                           "If-None-Match", "Content-Type", "Accept"]),
                          st.one_of(header_text, big_int.map(str)), max_size=4)
PATH_VALUES = {
    "kind": st.one_of(st.sampled_from(["scene", "performer", "studio", "tag", "group", "file"]), any_text),
    "variant": st.one_of(st.sampled_from(["poster", "background", "image", "front", "back"]), any_text),
    "rest": st.lists(st.one_of(st.sampled_from(["extras", "children", "similar", ".."]), any_text),
                     min_size=1, max_size=3).map(lambda parts: "/".join(quote(p, safe="") or "x" for p in parts)),
}
raw_segments = st.one_of(ids.map(lambda s: quote(s, safe="")), st.binary(min_size=1, max_size=8).map(
    lambda b: quote_from_bytes(b, safe="")))
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


def operations(s2p) -> list[tuple[str, str]]:
    document = s2p.get("/openapi.json").json()
    return sorted((path, method.upper()) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "head"))


@st.composite
def http_requests(draw, ops):
    path, method = draw(st.sampled_from(ops))
    if draw(st.integers(0, 9)) == 0:
        method = draw(methods)
    for name in ("rating_key", "entity_id", "kind", "variant", "rest"):
        placeholder = "{" + name + "}"
        if placeholder in path:
            if name in PATH_VALUES:
                value = draw(PATH_VALUES[name]) if name == "rest" else quote(draw(PATH_VALUES[name]), safe="")
            else:
                value = draw(raw_segments)
            path = path.replace(placeholder, value or "x")
    body = draw(bodies) if method in ("POST", "PUT", "PATCH") else None
    return method, path, draw(queries), draw(headers), body


# ---------------------------------------------------------------- checks

def check(response: requests.Response, method: str, path: str, stash_down: bool) -> None:
    status = response.status_code
    where = f"{method} {path[:120]} -> {status}: {response.text[:200]!r}"
    assert status < 500 or (stash_down and status == 503), where
    assert "Traceback" not in response.text, where
    if method == "HEAD" or status == 304:
        return
    content_type = response.headers.get("Content-Type", "")
    if path.startswith("/images/") and status == 200 and method == "GET":
        assert content_type.startswith("image/"), where
        return
    if path == "/metrics" and status == 200 and method == "GET":
        assert content_type.startswith("text/plain"), where
        return
    if path == "/gaps" and status == 200 and method == "GET":
        assert content_type.startswith("text/html"), where  # the report page for people
        return
    if status == 303:  # the gap page's forms redirect back to it
        return
    if path.startswith("/stash-plugin/") and path.endswith((".yml", ".zip")) and status == 200 and method == "GET":
        assert content_type.startswith(("text/yaml", "application/zip")), where  # the Stash plugin's source
        return
    assert content_type.startswith("application/json"), where
    json.loads(response.content)  # well-formed JSON


def run_fuzz(s2p, examples: int, stash_down: bool, label: str) -> None:
    ops = operations(s2p)
    session = requests.Session()
    session.trust_env = False  # no netrc or proxy look-ups per request: they cost more than the request
    COUNTS[label] = 0

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(request=http_requests(ops))
    def one(request):
        method, path, params, extra_headers, body = request
        response = session.request(method, s2p.url + path, params=params, headers=extra_headers, data=body,
                                   timeout=30, allow_redirects=False)
        COUNTS[label] += 1
        check(response, method, path, stash_down)

    one()
    session.close()
    print(f"\nfuzz ({label}): {COUNTS[label]} requests across {len(ops)} operations")
    assert COUNTS[label] >= min(examples, 100)


# ---------------------------------------------------------------- tests

@pytest.mark.integration
@pytest.mark.fuzz
def test_fuzz_with_stash_up(s2p):
    run_fuzz(s2p, EXAMPLES, stash_down=False, label="Stash up")
    # Still answering, and still right.
    assert s2p.get("/").status_code == 200
    assert s2p.get("/healthz").json()["status"] == "ok"
    match = s2p.match(type=1, filename="日本の夏.mp4").json()
    assert [m["ratingKey"] for m in match["MediaContainer"]["Metadata"]] == ["8"]


@pytest.mark.integration
@pytest.mark.fuzz
def test_fuzz_with_stash_down(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5, "slot_wait": 0.5})
    fake_stash.stop()
    run_fuzz(s2p, max(EXAMPLES // 4, 50), stash_down=True, label="Stash down")
    assert s2p.get("/").status_code == 200
    assert s2p.get("/healthz").status_code == 503
