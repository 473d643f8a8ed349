import threading
import time

import pytest
from helpers import FakeClock

from s2p.common.cache import TTLCache


def test_entries_expire_after_their_ttl():
    clock = FakeClock(0.0)
    cache = TTLCache(10, ttl=5, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2, ttl=20)
    clock.now = 6
    assert cache.get("a") is None and cache.get("b") == 2


def test_least_recently_used_is_evicted_first():
    cache = TTLCache(2, ttl=60)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.stats.evictions == 1


def test_weight_budget_counts_bytes():
    cache = TTLCache(100, ttl=60, weigh=len)
    cache.put("a", b"x" * 60)
    cache.put("b", b"x" * 60)
    assert cache.get("a") is None and cache.weight == 60
    cache.put("huge", b"x" * 500)
    assert cache.get("huge") is None


def test_single_flight_loads_once_for_concurrent_callers():
    cache = TTLCache(10, ttl=60)
    calls = []
    gate = threading.Event()

    def loader():
        calls.append(1)
        gate.wait(2)
        return "value"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", loader))) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert results == ["value"] * 20 and len(calls) == 1
    assert cache.stats.coalesced == 19


def test_failed_load_reaches_every_waiter_and_is_not_cached():
    cache = TTLCache(10, ttl=60)
    gate = threading.Event()

    def failing():
        gate.wait(2)
        raise RuntimeError("stash down")

    errors = []

    def call():
        try:
            cache.get_or_load("k", failing)
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert errors == ["stash down"] * 5
    assert cache.get_or_load("k", lambda: "ok") == "ok"


def test_waiters_give_up_after_their_wait():
    cache = TTLCache(10, ttl=60)
    gate = threading.Event()
    leader = threading.Thread(target=lambda: cache.get_or_load("k", lambda: gate.wait(2)))
    leader.start()
    time.sleep(0.05)
    with pytest.raises(TimeoutError):
        cache.get_or_load("k", lambda: "never", wait=0.1)
    gate.set()
    leader.join()


def test_zero_size_stores_nothing_and_ttl_for_can_shorten():
    assert TTLCache(0, ttl=60).get_or_load("k", lambda: 1) == 1
    clock = FakeClock(0.0)
    cache = TTLCache(10, ttl=60, clock=clock)
    cache.get_or_load("miss", lambda: None, ttl_for=lambda v: 1 if v is None else None)
    clock.now = 2
    assert cache.get("miss", default="gone") == "gone"


def test_a_reservation_makes_requests_wait_for_the_promised_load():
    cache = TTLCache(10, ttl=60)
    reservation = cache.reserve("k")
    assert reservation is not None and cache.reserve("k") is None  # already promised
    results, calls = [], []
    waiter = threading.Thread(target=lambda: results.append(cache.get_or_load("k", lambda: calls.append(1))))
    waiter.start()
    time.sleep(0.05)
    cache.fulfil(reservation, "batched")
    waiter.join()
    assert results == ["batched"] and calls == [] and cache.get("k") == "batched"


def test_an_abandoned_reservation_lets_waiters_load_for_themselves():
    cache = TTLCache(10, ttl=60)
    reservation = cache.reserve("k")
    results = []
    waiter = threading.Thread(target=lambda: results.append(cache.get_or_load("k", lambda: "own load")))
    waiter.start()
    time.sleep(0.05)
    cache.abandon(reservation)
    waiter.join()
    assert results == ["own load"]
    assert cache.reserve("k") is None  # cached now
