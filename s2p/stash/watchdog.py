"""A deadline for a whole exchange with Stash, however slowly it answers.

A socket timeout bounds each read, not the reply: a Stash (or a proxy in
front of it) that sends a byte every half second keeps every read short and
the reply endless.  Each connection s2p's session opens registers its socket
here as a request starts; when the exchange's deadline passes, one thread
shuts that socket down, so the read blocked on it fails at once and the
caller's Stash slot is freed.  ``WatchedAdapter`` is the ``requests``
adapter whose connections do this.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Watch:
    """One exchange under watch; ``fired`` tells whether its deadline cut it."""

    __slots__ = ("at", "sock", "fired", "done")

    def __init__(self, at: float):
        self.at = at
        self.sock: socket.socket | None = None
        self.fired = False
        self.done = False


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    # -- the calling thread

    def begin(self, seconds: float) -> Watch:
        """Watch the exchange this thread starts now; it must end within ``seconds``."""
        watch = Watch(time.monotonic() + seconds)
        self._local.watch = watch
        return watch

    def end(self, watch: Watch) -> None:
        with self._changed:
            watch.done = True
            watch.sock = None
        self._local.watch = None

    def attach(self, sock: socket.socket | None) -> None:
        """Called by a connection as it sends a request: its socket is the one to cut."""
        watch = getattr(self._local, "watch", None)
        if watch is None or sock is None:
            return
        with self._changed:
            watch.sock = sock
            heapq.heappush(self._heap, (watch.at, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="s2p-stash-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                # Woken only when this deadline comes before the one it sleeps
                # towards: waking it for every exchange cost a rescan half its rate.
                self._changed.notify()

    # -- the watchdog's thread

    def _run(self) -> None:
        with self._changed:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._changed.wait()
                    continue
                at, _, watch = self._heap[0]
                left = at - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                heapq.heappop(self._heap)
                if not watch.done and watch.sock is not None:
                    watch.fired = True
                    try:
                        watch.sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns now
                    except OSError:
                        pass


def _watched(connection_class: type[HTTPConnection], watchdog: Watchdog) -> type[Any]:
    # mypy cannot follow a base class chosen at run time (HTTP or HTTPS).
    class Watched(connection_class):  # type: ignore[valid-type,misc]
        def request(self, *args: Any, **kwargs: Any) -> None:
            if self.sock is None:
                self.connect()
            watchdog.attach(self.sock)
            return super().request(*args, **kwargs)

    Watched.__name__ = f"Watched{connection_class.__name__}"
    return Watched


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections report their sockets to ``watchdog``."""

    def __init__(self, watchdog: Watchdog, **kwargs: Any):
        self._watchdog = watchdog
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watchdog = self._watchdog

        class Pool(HTTPConnectionPool):
            ConnectionCls = _watched(HTTPConnection, watchdog)

        class SecurePool(HTTPSConnectionPool):
            ConnectionCls = _watched(HTTPSConnection, watchdog)

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SecurePool}
