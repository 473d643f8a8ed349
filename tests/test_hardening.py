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
