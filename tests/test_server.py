"""The background server (tests, the demo, benchmarks) starts and stops cleanly."""

from __future__ import annotations

import errno
import socket
import time

import requests

from s2p.app.server import LOOP_TIMEOUT, BackgroundServer


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def refuses_connections(server: BackgroundServer) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_stop_closes_the_port_and_ends_the_thread():
    server = BackgroundServer.for_app(hello).start()
    with requests.Session() as session:  # a kept-alive connection is closed too
        assert session.get(server.url).text == "ok"
        server.stop()
        assert not server._thread.is_alive()
        assert refuses_connections(server)
    server.stop()  # a second stop is harmless


def test_stop_ends_the_loop_even_when_its_wake_up_pipe_is_gone():
    # The trigger pipe wakes waitress's loop; if it is closed (a descriptor
    # closed twice elsewhere in the process can do that), stopping must still
    # end the loop rather than raise.
    server = BackgroundServer.for_app(hello).start()
    assert requests.get(server.url, timeout=5).text == "ok"

    def gone(thunk=None):
        raise OSError(errno.EBADF, "Bad file descriptor")

    server.server.trigger.pull_trigger = gone
    began = time.monotonic()
    server.stop()
    assert not server._thread.is_alive()
    assert time.monotonic() - began < 5 + LOOP_TIMEOUT
    assert refuses_connections(server)


def test_a_server_never_started_releases_its_port():
    server = BackgroundServer.for_app(hello)
    server.stop()
    assert refuses_connections(server)
