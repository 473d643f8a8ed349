"""Running the app under waitress, in the foreground or (for tests, the demo
and benchmarks) in a background thread."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from pathlib import Path

import waitress

from . import __version__
from .collectors import watch_http_server
from .config import Settings, mask
from .runtime import Services
from .stash.errors import StashError
from .web.app import create_app

log = logging.getLogger("s2p")

# waitress answers bodies over this with its own plain-text 413; smaller
# bodies over [server] max_body reach the app and get a JSON 413.
HARD_BODY_LIMIT = 16 * 1024 * 1024


def create_server(app, settings: Settings, *, host: str | None = None, port: int | None = None,
                  loop_timeout: float = 1.0):
    return waitress.create_server(
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
        # How often waitress's loop wakes up when idle; short for servers
        # that tests start and stop many times.
        asyncore_loop_timeout=loop_timeout,
    )


class BackgroundServer:
    """A waitress server on its own thread, with a clean stop."""

    def __init__(self, server):
        self.server = server
        self.host = server.effective_host
        self.port = int(server.effective_port)
        self._thread = threading.Thread(target=server.run, name="waitress", daemon=True)

    @classmethod
    def for_app(cls, app, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> "BackgroundServer":
        return cls(waitress.create_server(app, host=host, port=port, threads=threads, ident="s2p",
                                          expose_tracebacks=False, asyncore_loop_timeout=0.1))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self.server
        # Let running requests finish, then close every channel (the
        # listening socket, open connections, the trigger) so waitress's
        # loop finds an empty map and returns.
        server.task_dispatcher.shutdown()

        def close_all() -> None:  # runs on the loop's own thread
            for channel in list(server._map.values()):
                if channel is not server.trigger:
                    channel.handle_close()
            server.trigger.close()

        if self._thread.is_alive():
            server.trigger.pull_trigger(close_all)
            self._thread.join(timeout=5)
        else:
            server.close()


def in_container() -> bool:
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    try:
        text = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in text for word in ("docker", "containerd", "kubepods", "libpod"))


def lan_address() -> str | None:
    """This machine's address on its default route (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
    except OSError:
        return None


def provider_url(settings: Settings, port: int, host: str | None = None) -> str:
    """The URL to register in Plex for this server."""
    host = settings.server.host if host is None else host
    if host in ("0.0.0.0", "::", ""):
        host = lan_address() or "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    root = f"/{settings.server.secret}/" if settings.server.secret else "/"
    return f"http://{shown}:{port}{root}"


def is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def announce(settings: Settings, services: Services, port: int) -> None:
    """Start-up diagnostics: where to point Plex, paths, Stash."""
    url = provider_url(settings, port)
    log.info("s2p %s listening on %s port %d", __version__, settings.server.host, port)
    secret = settings.server.secret
    if secret:
        # Logs travel further than the configuration file: show where the secret goes, not the secret.
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider), with your "
                 "[server] secret in place of %s: %s", mask(secret), url.replace(secret, mask(secret)))
    else:
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider): %s", url)
    if is_loopback(url):
        log.warning("that URL is on localhost: a Plex running in a bridge-mode container (or on another "
                    "machine) cannot reach it; listen on 0.0.0.0 and register this machine's LAN address")
    if in_container():
        log.info("running in a container: register the address Plex can reach (the host's LAN address with "
                 "the published port, or this container's name on a shared Docker network)")
    for line in services.path_map.describe():
        log.info("paths: %s", line)
    examples = sum(len(rule.examples) for rule in services.path_map.rules)
    if examples:
        log.info("paths: all %d example(s) survive the Stash -> Plex -> Stash round trip", examples)
    if not settings.provider.public_url and services.pusher is not None:
        log.info("no [provider] public_url: artwork reaches Plex by upload ([artwork] push)")
    elif not settings.provider.public_url:
        log.warning("no [provider] public_url: image URLs use the host Plex called; Plex 1.43.5+ refuses "
                    "images on LAN or localhost addresses, so set public_url to a public https URL, "
                    "or turn on [artwork] push (see the README)")
    try:
        version = services.stash_version(timeout=min(5.0, settings.stash.timeout))
        log.info("Stash %s reachable at %s", version.version or "(unknown version)", settings.stash.url)
    except StashError as exc:
        log.warning("Stash is not reachable (%s); s2p answers Plex with empty results until it is back", exc)


def serve(settings: Settings, services: Services | None = None) -> int:
    services = services or Services(settings)
    app = create_app(services)
    server = create_server(app, settings)
    watch_http_server(services, server)
    announce(settings, services, int(server.effective_port))
    services.start()

    def stop(signum, frame):  # SIGTERM from systemd or docker stop
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("s2p stopping")
        services.stop()
    return 0
