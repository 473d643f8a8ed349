"""Start-up messages: the URL to register in Plex, the network, the path rules, Stash."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from s2p import __version__
from s2p.app.runtime import Runtime
from s2p.common.network import in_container, is_loopback_host, lan_address, plex_refuses_image_host
from s2p.config import Settings, mask
from s2p.paths.pathmap import PathMap
from s2p.stash.breaker import fix_for
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


def plex_on_our_loopback(settings: Settings) -> bool:
    """Whether [plex] url names this machine or network namespace, so that
    Plex reaches s2p on 127.0.0.1 too (a container sharing Plex's network)."""
    from s2p.pms.register import plex_shares_our_network

    return bool(settings.plex.url) and plex_shares_our_network(settings.plex.url)


def register_url(settings: Settings, port: int) -> str | None:
    """The URL ``s2p register`` registers without --url; None when only the
    user knows it (in a container whose Plex is elsewhere)."""
    if not in_container():
        return provider_url(settings, port)
    if plex_on_our_loopback(settings):
        host = settings.server.host
        return provider_url(settings, port, "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost") else host)
    return None


def stash_plugin_url(provider: str) -> str:
    """The plugin source to add in Stash, from the URL registered in Plex."""
    return provider.rstrip("/") + "/stash-plugin/index.yml"


def stash_plugin_line(settings: Settings, url: str) -> str:
    """Where Stash finds the plugin, the secret root (if any) masked."""
    secret = settings.server.secret
    shown = stash_plugin_url(url).replace(secret, mask(secret)) if secret else stash_plugin_url(url)
    where = (f" (with your [server] secret in place of {mask(secret)})" if secret else "")
    return (f"Stash plugin: add {shown}{where} in Stash > Settings > Plugins > Available Plugins > Add Source, "
            "then install \"s2p (Plex)\" (docs/stash-plugin.md)")


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def announce(settings: Settings, runtime: Runtime, port: int) -> None:
    """Start-up diagnostics: where to point Plex, the network, paths, Stash."""
    url = register_url(settings, port)
    log.info("s2p %s listening on %s port %d", __version__, settings.server.host, port)
    secret = settings.server.secret
    shared = in_container() and plex_on_our_loopback(settings)
    if url is None:
        # The container's own address is not one Plex can keep using: never offer it.
        log.info("register in Plex the URL it can reach s2p at (Settings > Metadata Agents > Add Provider, or "
                 "s2p register --url URL)%s; the network line below says which",
                 f", ending in the [server] secret in place of {mask(secret)}: /{mask(secret)}/" if secret else "")
    elif secret:
        # Logs travel further than the configuration file: show where the secret goes, not the secret.
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider, or s2p register), "
                 "with your [server] secret in place of %s: %s", mask(secret), url.replace(secret, mask(secret)))
    else:
        log.info("register this URL in Plex (Settings > Metadata Agents > Add Provider, or s2p register): %s",
                 url)
    log.info("%s", stash_plugin_line(settings, url or f"http://<s2p's address as Stash reaches it>:{port}/"))
    if url is not None and is_loopback(url) and not plex_on_our_loopback(settings):
        log.warning("that URL is on localhost: a Plex running in a bridge-mode container (or on another "
                    "machine) cannot reach it; listen on 0.0.0.0 and register this machine's LAN address")
    if shared:
        log.info("network: in a container that shares its network with Plex ([plex] url %s is local), so Plex "
                 "reaches s2p on 127.0.0.1", settings.plex.url)
    elif in_container():
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
    plex_problem = check_plex(settings)
    shown, line = pictures(settings)
    if shown and plex_problem and settings.pushes_artwork:
        shown, line = False, line.replace("uploaded into Plex by s2p", "to be uploaded into Plex by s2p once Plex answers")
    log.log(logging.INFO if shown else logging.WARNING, "%s", line)
    try:
        version = runtime.stash_version(timeout=min(5.0, settings.stash.timeout))
        log.info("Stash %s reachable at %s", version.version or "(unknown version)", settings.stash.url)
    except StashError as exc:
        problem = str(exc).rstrip(".")
        fix = "" if "Fix:" in problem else f". {fix_for(problem)}"
        log.warning("Stash is not reachable (%s); s2p answers Plex with empty results until it is back%s",
                    problem, fix)


def check_plex(settings: Settings) -> str | None:
    """Ask Plex once at start-up, as Stash is asked: its problem (logged
    with the fix), or None when it answers or is not configured."""
    from s2p.pms.connect import PlexError, connect

    if not settings.plex.url or not settings.plex.token.get_secret_value():
        return None
    quick = settings.plex.model_copy(update={"timeout": min(5.0, settings.plex.timeout)})
    try:
        plex = connect(quick, settings.state_dir)
    except PlexError as exc:
        problem = str(exc).rstrip(".")
        fix = "" if "Fix:" in problem else ". Fix: check [plex] url and [plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN)"
        log.warning("Plex is not usable (%s); artwork uploads, live sync and the gap report wait until it "
                    "is%s", problem, fix)
        return problem
    log.info("Plex %s reachable at %s", getattr(plex, "version", "") or "(unknown version)", settings.plex.url)
    return None


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
