"""What keeps a full rescan from flooding Stash, against real servers."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_metadata_for_different_scenes_share_one_batched_query(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, cache={"batch_window_ms": 50})
    fake_stash.standin.reset_counts()
    ids = [str(i) for i in range(1, 9)] + ["999"]
    with ThreadPoolExecutor(len(ids)) as pool:
        statuses = list(pool.map(lambda i: s2p.get(f"/library/metadata/{i}").status_code, ids))
    assert statuses == [200] * 8 + [404]
    # One query for the batch, one more after Stash refused the unknown id.
    assert fake_stash.standin.graphql_requests <= 3
    assert fake_stash.standin.counts["op:S2PFindScene"] == 0


def test_a_match_prefetches_the_metadata_plex_asks_for_next(s2p, fake_stash):
    assert s2p.match(type=1, filename="日本の夏.mp4").json()["MediaContainer"]["size"] == 1
    deadline = time.monotonic() + 3
    while s2p.services.scenes.cache.get("8") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    fake_stash.standin.reset_counts()
    assert s2p.get("/library/metadata/8").status_code == 200
    assert fake_stash.standin.graphql_requests == 0


def test_circuit_opens_on_failures_then_recovers_within_one_cool_down(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"breaker_failures": 2, "breaker_cooldown": 1, "retries": 0})
    fake_stash.standin.fail("error")
    for scene in ("1", "2"):
        assert s2p.get(f"/library/metadata/{scene}").status_code == 503
    assert s2p.services.client.breaker.state == "open"
    health = s2p.get("/healthz").json()
    assert health["circuit"]["state"] == "open" and health["status"] != "ok"
    assert "s2p_stash_circuit_open 1" in s2p.get("/metrics").text
    before = fake_stash.standin.graphql_requests
    started = time.monotonic()
    assert s2p.get("/library/metadata/3").status_code == 503
    # Refused at once: no Stash query, no wait for a Stash timeout (5 s here).
    assert time.monotonic() - started < 2 and fake_stash.standin.graphql_requests == before
    fake_stash.standin.heal()
    time.sleep(1.1)
    assert s2p.get("/library/metadata/3").status_code == 200
    assert s2p.services.client.breaker.state == "closed"
    assert s2p.get("/healthz").json()["circuit"]["state"] == "closed"


def test_metadata_waits_for_a_stash_slot_as_long_as_its_budget_allows(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"max_concurrency": 1, "slot_wait": 0.2, "timeout": 5},
                    cache={"enabled": False}, server={"request_budget": 10})
    fake_stash.standin.latency = 0.5
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda i: s2p.get(f"/library/metadata/{i}").status_code, ["1", "2", "3"]))
    # One slot, three requests of 0.5 s each: they queue (1.5 s), well within the budget; none is refused.
    assert statuses == [200, 200, 200]
    fake_stash.standin.latency = 0


def test_a_title_search_yields_its_slot_and_waits_only_slot_wait(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, index={"enabled": False}, cache={"enabled": False},
                    stash={"max_concurrency": 1, "slot_wait": 0.3, "timeout": 5, "breaker_failures": 50},
                    server={"request_budget": 10})
    fake_stash.standin.latency = 1.0
    with ThreadPoolExecutor(2) as pool:
        metadata = pool.submit(lambda: s2p.get("/library/metadata/1").status_code)
        time.sleep(0.2)  # the metadata request holds the one slot
        started = time.monotonic()
        search = s2p.match(type=1, title="Office Affair", manual=1).json()["MediaContainer"]
        waited = time.monotonic() - started
        assert metadata.result() == 200
    assert search["size"] == 0 and waited < 0.9  # gave up after slot_wait, not after the metadata's 1 s
    fake_stash.standin.latency = 0


@pytest.mark.integration
def test_a_dripping_stash_reply_ends_within_the_budget_and_frees_its_slot(start_s2p, fake_stash):
    # Headers at once, then a byte every half second: each read is quick, the reply endless.
    s2p = start_s2p(fake_stash.url, index={"enabled": False}, cache={"enabled": False},
                    stash={"timeout": 2, "max_concurrency": 1, "slot_wait": 5, "breaker_failures": 50},
                    server={"request_budget": 4})
    fake_stash.standin.fail("drip")
    started = time.monotonic()
    assert s2p.get("/library/metadata/1").status_code == 503
    assert time.monotonic() - started < 3.5  # [stash] timeout (2 s) ends it, body included
    # The one slot is free again: with Stash healthy the next request is answered at once.
    fake_stash.standin.heal()
    started = time.monotonic()
    assert s2p.get("/library/metadata/2").status_code == 200
    assert time.monotonic() - started < 1.5
    # The request budget bounds it too when it is shorter than the timeout.
    short = start_s2p(fake_stash.url, index={"enabled": False}, cache={"enabled": False},
                      stash={"timeout": 30, "breaker_failures": 50}, server={"request_budget": 2})
    fake_stash.standin.fail("drip")
    started = time.monotonic()
    assert short.match(type=1, filename="Harbour Films/extras/scene.mp4").json()["MediaContainer"]["size"] == 0
    assert time.monotonic() - started < 3.5
    fake_stash.standin.heal()


def test_a_replayed_match_answer_still_counts_and_records_what_it_left_out(s2p):
    body = {"type": 1, "filename": "Harbour Films/extras/scene.mp4", "year": "soon"}
    answers = [s2p.post("/library/metadata/matches", json=body) for _ in range(3)]
    assert len({a.content for a in answers}) == 1 and answers[0].json()["MediaContainer"]["size"] == 1
    metrics = s2p.get("/metrics").text
    assert 's2p_plex_values_dropped_total{field="year"} 3' in metrics  # every request, replayed or not
    assert 's2p_matches_total{result="matched",step="suffix"} 3' in metrics
    # Another body is not given the kept bytes.
    other = s2p.post("/library/metadata/matches", json={**body, "filename": "Studio Ümlaut/extras/scene.mp4"})
    assert [m["ratingKey"] for m in other.json()["MediaContainer"]["Metadata"]] == ["6"]
