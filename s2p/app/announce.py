"""Start-up messages: the URL to register in Plex, the network, the path rules, Stash."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from s2p import __version__
from s2p.app.runtime import Runtime
from s2p.common.network import in_container, is_loopback_host, lan_address, plex_refuses_image_host
from s2p.config import Settings, mask
from s2p.paths.pathmap import PathMap
from s2p.stash.errors import StashError

log = logging.getLogger(__name__)


def provider_url(settings: Settings, port: int, host: str | None = None) -> str:
    """The URL to register in Plex for this server."""
    host = settings.server.host if host is None else host
    if host in ("0.0.0.0", "::", ""):
        host = lan_address() or "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    root = f"/{settings.server.secret}/" if settings.server.secret else "/"
    return f"http://{shown}:{port}{root}"


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def announce(settings: Settings, runtime: Runtime, port: int) -> None:
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
                 "http://<the host's LAN address>:<published port>/ (docs/plex-setup.md, \"Which URL to register\")",
                 lan_address() or "unknown", port)
    else:
        log.info("network: on the host, not in a container; LAN address %s", lan_address() or "unknown")
    for line in runtime.path_map.describe():
        log.info("paths: %s", line)
    for line in round_trips(runtime.path_map):
        log.info("paths: %s", line)
    for rule in runtime.path_map.rules:
        if not rule.examples:
            log.warning('paths: rule "%s" has no examples, so nothing checks that it translates both ways; '
                        "add a Stash path to its examples", rule.name)
    shown, line = pictures(settings)
    log.log(logging.INFO if shown else logging.WARNING, "%s", line)
    try:
        version = runtime.stash_version(timeout=min(5.0, settings.stash.timeout))
        log.info("Stash %s reachable at %s", version.version or "(unknown version)", settings.stash.url)
    except StashError as exc:
        log.warning("Stash is not reachable (%s); s2p answers Plex with empty results until it is back", exc)


def pictures(settings: Settings) -> tuple[bool, str]:
    """(will Plex show them, how pictures reach Plex), in one line."""
    public = settings.provider.public_url
    if settings.pushes_artwork:
        how = "explicitly" if settings.artwork.push else "since [plex] is set and [provider] public_url is not"
        return True, f"pictures: uploaded into Plex by s2p ([artwork] push, on {how})"
    if public:
        host = urlsplit(public).hostname or ""
        if plex_refuses_image_host(host):
            return False, (f"pictures: image URLs on {public}, which Plex 1.43.5+ refuses ({host} is a LAN or local "
                           "address). Fix: a public https hostname as [provider] public_url, or set [plex] url and "
                           "token and leave public_url empty (s2p then uploads them)")
        return True, f"pictures: Plex fetches them from {public} ([provider] public_url)"
    return False, ("pictures: image URLs on the address Plex calls, which Plex 1.43.5+ refuses when it is a LAN "
                   "address. Fix: set [plex] url and token (s2p then uploads them), or a public https "
                   "[provider] public_url (docs/artwork.md)")


def round_trips(path_map: PathMap, limit: int = 3) -> list[str]:
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
