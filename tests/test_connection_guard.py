"""Slow and foreign connections cannot lock Plex out (loopback only: the
flood comes from 127.0.0.2, Plex from 127.0.0.1)."""

from __future__ import annotations

import socket
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
