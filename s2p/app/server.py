"""Running the app under waitress, in the foreground or (for tests, the demo
and benchmarks) in a background thread."""

from __future__ import annotations

import errno
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable

import waitress.server

from s2p.app.announce import announce
from s2p.app.guard import ConnectionGuard
from s2p.app.runtime import Runtime, build
from s2p.app.webapp import create_app
from s2p.config import Settings

if TYPE_CHECKING:
    pass

# A WSGI application: s2p's falcon app, or a stand-in (falcon's own annotation of
# start_response is narrower than the WSGI protocol's).
WsgiApp = Callable[..., Iterable[bytes]]

log = logging.getLogger(__name__)

# waitress answers bodies over this with its own plain-text 413; smaller
# bodies over [server] max_body reach the app and get a JSON 413.
HARD_BODY_LIMIT = 16 * 1024 * 1024


# waitress's loop sleeps in poll() this many whole seconds when idle (it
# takes an int: 0.1 would become 0, a loop that never sleeps).  Stopping
# does not wait for it: BackgroundServer.stop wakes the loop at once.
LOOP_TIMEOUT = 1


def create_server(app: WsgiApp, settings: Settings, *, host: str | None = None,
                  port: int | None = None) -> Any:
    server: Any = waitress.server.create_server(  # Any: the guard is hung on it
        app,
        host=settings.server.host if host is None else host,
        port=settings.server.port if port is None else port,
        threads=settings.server.threads,
        connection_limit=settings.server.connection_limit,
        channel_timeout=120,
        max_request_body_size=HARD_BODY_LIMIT,
        expose_tracebacks=False,
        ident="s2p",
        # s2p decides itself which proxies to believe ([server]
        # trusted_proxies, networks rather than waitress's single address):
        # waitress must hand X-Forwarded-For over untouched.
        clear_untrusted_proxy_headers=False,
        asyncore_loop_timeout=LOOP_TIMEOUT,
    )
    server.guard = ConnectionGuard(settings.server)
    server.guard.install(server)
    return server


class BackgroundServer:
    """A waitress server on its own thread, with a clean stop.

    The thread runs waitress's loop one poll at a time rather than
    ``server.run()``, so that stopping never depends on waking it: the
    trigger pipe makes the stop immediate, but if the pipe is already gone
    the loop still sees the stop flag within ``LOOP_TIMEOUT``.  Everything
    is closed on the loop's own thread, as waitress expects.
    """

    def __init__(self, server: Any):
        self.server = server
        self.host = server.effective_host
        self.port = int(server.effective_port)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="waitress", daemon=True)

    @classmethod
    def for_app(cls, app: WsgiApp, *, host: str = "127.0.0.1", port: int = 0,
                threads: int = 8) -> "BackgroundServer":
        return cls(waitress.server.create_server(app, host=host, port=port, threads=threads, ident="s2p",
                                          expose_tracebacks=False, asyncore_loop_timeout=LOOP_TIMEOUT))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def _run(self) -> None:
        server = self.server
        try:
            while server._map and not self._stopping.is_set():
                server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                                     use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            _close_all(server)

    def stop(self) -> None:
        # Let running requests finish, then end the loop, which closes every
        # channel (the listener, open connections, the trigger) as it leaves.
        self.server.task_dispatcher.shutdown()
        self._stopping.set()
        if self._thread.is_alive():
            try:
                self.server.trigger.pull_trigger()
            except OSError:
                pass  # the trigger is closed already: the loop's poll times out instead
            self._thread.join(timeout=5 + LOOP_TIMEOUT)
        elif not self._thread.ident:  # never started
            _close_all(self.server)


def _close_all(server: Any) -> None:
    for channel in list(server._map.values()):
        if channel is server:
            server.close()  # the listener has no close handler: handle_close would warn
        elif channel is not server.trigger:
            channel.handle_close()
    server.trigger.close()


class StartupError(Exception):
    """s2p cannot start; the message is one line naming the problem and the fix."""


def bind(app: WsgiApp, settings: Settings, *, host: str | None = None, port: int | None = None) -> Any:
    """``create_server``, with an address that cannot be listened on told in one line."""
    host = settings.server.host if host is None else host
    port = settings.server.port if port is None else port
    try:
        return create_server(app, settings, host=host, port=port)
    except (OSError, ValueError) as exc:
        raise StartupError(bind_problem(exc, host, port)) from None


def bind_problem(exc: Exception, host: str, port: int) -> str:
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        return (f"cannot listen on {where}: the port is in use (another s2p, or another program). "
                "Fix: stop that program, or choose another port ([server] port, S2P_SERVER_PORT; s2p demo --port)")
    if code == errno.EACCES:
        return (f"cannot listen on {where}: permission denied (ports below 1024 need privileges). "
                "Fix: choose a port above 1023 ([server] port, S2P_SERVER_PORT; s2p demo --port)")
    if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, (socket.gaierror, ValueError)):
        return (f"cannot listen on {where}: no such address on this machine. "
                "Fix: set [server] host (S2P_SERVER_HOST) to 0.0.0.0, 127.0.0.1 or one of this machine's addresses")
    return f"cannot listen on {where}: {getattr(exc, 'strerror', None) or exc}. Fix: check [server] host and port"


def serve(settings: Settings, runtime: Runtime | None = None, *,
          announcer: Callable[[Settings, Runtime, int], None] = announce) -> int:
    """Run s2p in the foreground until SIGTERM or Ctrl-C.  Raises
    ``StartupError`` (and ``StateDirError``) before anything has started."""
    runtime = runtime or build(settings)
    app = create_app(runtime)
    try:
        server = bind(app, settings)
    except StartupError:
        runtime.stop()
        raise
    return runtime.run(server, lambda port: announcer(settings, runtime, port))
