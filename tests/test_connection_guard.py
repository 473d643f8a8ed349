"""Slow and foreign connections cannot lock Plex out (loopback only: the
flood comes from 127.0.0.2, Plex from 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

FLOOD_FROM = "127.0.0.2"


def slow_connections(url: str, count: int, source: str = FLOOD_FROM) -> list[socket.socket]:
    """Connections that start a request and never finish it."""
    host, port = url.rsplit("//", 1)[1].split(":")
    opened = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(2)
        sock.bind((source, 0))
        try:
            sock.connect((host, int(port)))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            sock.close()
            continue
        opened.append(sock)
    return opened


def trickle(socks: list[socket.socket]) -> None:
    for sock in socks:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.integration
def test_a_flood_of_slow_connections_from_one_address_leaves_plex_answered(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"connection_limit": 64, "max_connections_per_address": 16,
                                            "receive_timeout": 30})
    flood = slow_connections(s2p.url, 2 * 64)
    try:
        time.sleep(0.3)
        trickle(flood)
        for _ in range(5):
            started = time.monotonic()
            assert s2p.get("/library/metadata/1").status_code == 200
            assert time.monotonic() - started < 1.0
        kept = [s for s in flood if not closed_by_server(s)]
        assert len(kept) <= 32 + 16  # up to half the limit freely, then 16 more at most: the rest closed
        metrics = s2p.get("/metrics").text
        assert 's2p_connections_refused_total{reason="too many connections from one address"}' in metrics
    finally:
        for sock in flood:
            sock.close()


@pytest.mark.integration
def test_at_the_connection_limit_a_new_address_gets_in_and_crowded_ones_are_turned_away(start_s2p, fake_stash):
    # Eight addresses, 16 connections each: twice the limit, none over the per-address cap.
    s2p = start_s2p(fake_stash.url, server={"connection_limit": 64, "max_connections_per_address": 16,
                                            "receive_timeout": 30})
    flood = [sock for n in range(8) for sock in slow_connections(s2p.url, 16, source=f"127.0.0.{2 + n}")]
    try:
        for _ in range(3):
            assert s2p.get("/library/metadata/1").status_code == 200
        metrics = s2p.get("/metrics").text
        # The flood's connections past the limit were closed as they came, not left queued before Plex's.
        assert 's2p_connections_refused_total{reason="connection limit reached"}' in metrics
        assert sum(closed_by_server(sock) for sock in flood) >= 64
    finally:
        for sock in flood:
            sock.close()


@pytest.mark.integration
def test_a_request_that_trickles_in_is_cut_after_receive_timeout(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, server={"receive_timeout": 1})
    [slow] = slow_connections(s2p.url, 1, source="127.0.0.1")
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not closed_by_server(slow):
            trickle([slow])  # activity all along: waitress's idle timeout would never fire
        assert time.monotonic() < deadline, "the trickling connection was never closed"
        assert "s2p_connections_cut_total 1" in s2p.get("/metrics").text
    finally:
        slow.close()


class _Channel:
    def __init__(self, peer: str):
        self._peer = peer


def test_the_thread_queue_serves_the_address_running_fewest_and_caps_each_address():
    from s2p.app.guard import FairQueue
    from s2p.web.access import Networks

    queue = FairQueue(cap=2, proxies=Networks(["10.0.0.9/32"]))
    flood = [_Channel("10.0.0.2") for _ in range(4)]
    for channel in flood:
        queue.append(channel)
    assert queue.popleft() is flood[0] and queue.popleft() is flood[1]
    assert not queue and len(queue) == 2  # the flooding address runs its cap: nothing may start
    plex = _Channel("10.0.0.1")
    queue.append(plex)
    assert queue and queue.popleft() is plex  # another address still gets a thread
    assert queue.finished(flood[0])  # the flood's next request may run now
    assert queue.popleft() is flood[2]
    proxy = [_Channel("10.0.0.9") for _ in range(3)]
    for channel in proxy:
        queue.append(channel)
    assert [queue.popleft() for _ in range(3)] == proxy  # a trusted proxy carries many clients: no cap
    assert not queue and len(queue) == 1
    flood[1]._peer = None  # closed while its request was being answered: still counted back
    queue.finished(flood[1])
    assert queue.popleft() is flood[3]


@pytest.mark.integration
def test_title_searches_from_one_device_leave_a_thread_for_plex_matches(start_s2p, fake_stash):
    # Four threads, one Stash slot, 3 s per Stash query: eight title searches
    # from one address would hold every thread for seconds.
    s2p = start_s2p(fake_stash.url, server={"threads": 4, "request_budget": 20},
                    stash={"max_concurrency": 1, "slot_wait": 4, "timeout": 10, "breaker_failures": 50})
    dispatcher = s2p.server.server.task_dispatcher
    host, port = s2p.url.rsplit("//", 1)[1].split(":")
    finished: list[str] = []

    def search(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(FLOOD_FROM, 0))
        try:
            conn.request("POST", "/library/metadata/matches", json.dumps({"type": 1, "title": f"Nothing {n}"}),
                         {"Content-Type": "application/json"})
            conn.getresponse().read()
        finally:
            conn.close()
            finished.append("search")

    fake_stash.standin.latency = 3.0
    flood = [threading.Thread(target=search, args=(n,)) for n in range(8)]
    try:
        for thread in flood:
            thread.start()
        deadline = time.monotonic() + 10
        while len(dispatcher.queue) < 4 and time.monotonic() < deadline:  # every search accepted
            time.sleep(0.01)
        assert len(dispatcher.queue) >= 4
        for _ in range(3):
            answer = s2p.match(type=1, filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4")
            assert answer.json()["MediaContainer"]["size"] == 1
            finished.append("plex")
        # Plex's matches came before the searches' answers, not behind them (one
        # search may end first: its 3 s may pass on a loaded machine).
        assert finished.count("search") <= 1
    finally:
        fake_stash.standin.latency = 0
        for thread in flood:
            thread.join(30)
