import threading
import time

import pytest
from helpers import FakeClock

from s2p.common.deadline import Deadline
from s2p.scenes.batching import BatchLoader
from s2p.stash.breaker import CircuitBreaker
from s2p.stash.errors import StashUnavailable


def test_breaker_opens_cools_down_and_lets_one_probe_through():
    clock = FakeClock(100.0)
    breaker = CircuitBreaker(failures=2, cooldown=30, clock=clock)
    breaker.record_failure()
    breaker.before_request()  # one failure: still closed
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(StashUnavailable, match="30s"):
        breaker.before_request()
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.before_request()  # the probe
    with pytest.raises(StashUnavailable, match="probed"):
        breaker.before_request()  # others wait for the probe's outcome
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.before_request()


def test_failed_probe_opens_the_circuit_again():
    clock = FakeClock(100.0)
    breaker = CircuitBreaker(failures=1, cooldown=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    breaker.before_request()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.snapshot()["times_opened"] == 2


def test_batches_gather_concurrent_keys_into_one_load():
    calls = []

    def load_many(keys, deadline):
        calls.append(sorted(keys))
        return {k: f"scene {k}" for k in keys if k != "missing"}

    loader = BatchLoader(load_many, window=0.05, max_size=100)
    results = {}
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, loader.load(k, Deadline(5))))
               for k in ["1", "2", "3", "missing", "2"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [["1", "2", "3", "missing"]]
    assert results == {"1": "scene 1", "2": "scene 2", "3": "scene 3", "missing": None}


def test_a_full_batch_is_sent_without_waiting_for_the_window():
    calls = []
    loader = BatchLoader(lambda keys, d: calls.append(list(keys)) or {k: k for k in keys}, window=5, max_size=3)
    started = time.monotonic()
    threads = [threading.Thread(target=loader.load, args=(str(i), Deadline(10))) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 2 and len(calls) == 1 and len(calls[0]) == 3


def test_a_failed_batch_fails_every_caller():
    def boom(keys, deadline):
        time.sleep(0.05)
        raise StashUnavailable("down")

    loader = BatchLoader(boom, window=0.02, max_size=10)
    errors = []

    def call(key):
        try:
            loader.load(key, Deadline(5))
        except StashUnavailable as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=call, args=(str(i),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["down"] * 4


def test_batches_grow_while_earlier_batches_are_loading():
    calls = []
    release = threading.Event()

    def slow_load(keys, deadline):
        calls.append(list(keys))
        release.wait(2)
        return {k: k for k in keys}

    loader = BatchLoader(slow_load, window=0.001, max_size=100, max_inflight=1)
    first = threading.Thread(target=loader.load, args=("first", Deadline(5)))
    first.start()
    time.sleep(0.1)  # the first batch is now loading and holds the only turn
    rest = [threading.Thread(target=loader.load, args=(str(i), Deadline(5))) for i in range(20)]
    for t in rest:
        t.start()
        time.sleep(0.005)
    release.set()
    for t in [first] + rest:
        t.join()
    assert calls[0] == ["first"]
    assert len(calls) == 2 and sorted(calls[1], key=int) == [str(i) for i in range(20)]
