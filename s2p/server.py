"""Running the app under waitress, in the foreground or (for tests, the demo
and benchmarks) in a background thread."""

from __future__ import annotations

import logging
import signal
import threading

import waitress

from . import __version__
from .collectors import watch_http_server
from .config import Settings, mask
from .network import in_container, is_loopback_host, lan_address
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

    return is_loopback_host(urlsplit(url).hostname or "")


def announce(settings: Settings, services: Services, port: int) -> None:
    """Start-up diagnostics: where to point Plex, the network, paths, Stash."""
    url = provider_url(settings, port)
    log.info("s2p %s listening on %s port %d", __version__, settings.server.host, port)
    secret = settings.server.secret
    if secret:
        # Logs travel further than the configuration file: show where the secret goes, not the secret.
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider, or s2p register), "
                 "with your [server] secret in place of %s: %s", mask(secret), url.replace(secret, mask(secret)))
    else:
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider, or s2p register): %s",
                 url)
    if is_loopback(url):
        log.warning("that URL is on localhost: a Plex running in a bridge-mode container (or on another "
                    "machine) cannot reach it; listen on 0.0.0.0 and register this machine's LAN address")
    if in_container():
        log.info("network: in a container (its own address: %s). That address changes when the container is "
                 "re-created and is reachable only on its Docker network, so register "
                 "http://<s2p's service or container name>:%d/ when Plex shares that network, else "
                 "http://<the host's LAN address>:<published port>/ (README: \"Which URL to register\")",
                 lan_address() or "unknown", port)
    else:
        log.info("network: on the host, not in a container; LAN address %s", lan_address() or "unknown")
    for line in services.path_map.describe():
        log.info("paths: %s", line)
    for line in round_trips(services.path_map):
        log.info("paths: %s", line)
    for rule in services.path_map.rules:
        if not rule.examples:
            log.warning('paths: rule "%s" has no examples, so nothing checks that it translates both ways; '
                        "add a Stash path to its examples", rule.name)
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


def round_trips(path_map, limit: int = 3) -> list[str]:
    """Each rule's examples through Stash -> Plex -> Stash (the first few shown)."""
    lines = []
    for rule in path_map.rules:
        failed = 0
        for index, example in enumerate(rule.examples):
            plex = path_map.to_plex(example)
            back = path_map.to_stash(plex.path) if plex else None
            ok = back is not None and back.path == example
            failed += not ok
            if index < limit or not ok:
                lines.append(f'round trip via "{rule.name}": {example} -> {plex.path if plex else "(no rule)"} '
                             f'-> {back.path if back else "(no rule)"}: {"ok" if ok else "FAILED"}')
        if len(rule.examples) > limit:
            lines.append(f'round trip via "{rule.name}": {len(rule.examples) - limit} more example(s), '
                         f"{failed} failed in all")
    return lines


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
