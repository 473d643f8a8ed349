"""Who may call which route.

Plex sends a provider no credentials, so s2p decides by where a request
comes from.  Routes fall in three classes by their first path segment:

* operator pages (``/healthz``, ``/metrics``, ``/openapi.json``, ``/gaps``,
  ``/debug``): callers in ``[server] ops_allow``;
* images (``/images``): anyone, because Plex fetches artwork through
  images.plex.tv, which is not on the LAN (the image URLs carry their own
  protection);
* the Stash plugin's routes (``/stash-plugin``, under the secret root when
  there is one): callers in ``[server] allow`` or ``[server] ops_allow``
  (the routes under ``/stash-plugin/api`` also want the plugin's token);
* everything else is a Plex route: callers in ``[server] allow``, under the
  secret root when ``[server] secret`` is set (a wrong root finds no route and
  gets 404), and from a listed Plex server when ``[server] plex_clients`` is
  set.

``X-Forwarded-For`` is believed only when the peer is in
``[server] trusted_proxies``, walking the chain from the right.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

import falcon

from s2p.common.nearmiss import NearMisses
from s2p.config import ServerSettings, mask

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

PROVIDER = "provider"
OPS = "ops"
PUBLIC = "public"
PLUGIN = "plugin"

PLUGIN_SEGMENT = "stash-plugin"

OPS_SEGMENTS = frozenset({"healthz", "metrics", "openapi.json", "gaps", "gaps.json", "debug"})
PUBLIC_SEGMENTS = frozenset({"images"})

# First path segments s2p serves besides the secret root (others are masked in logs).
KNOWN_SEGMENTS = OPS_SEGMENTS | PUBLIC_SEGMENTS | {"library", "tv", PLUGIN_SEGMENT}
# Words of s2p's routes: shown even if a secret a person chose shares them.
ROUTE_WORDS = KNOWN_SEGMENTS | {"metadata", "matches", "children", "grandchildren", "requests"}

# A denied address is logged at WARNING at most this often (scanners retry).
DENIAL_LOG_INTERVAL = 60.0
_DENIAL_MEMORY = 1024


def route_class(path: str) -> str:
    """The class of a path as it reads without the secret root."""
    first = path.lstrip("/").split("/", 1)[0]
    if first == PLUGIN_SEGMENT:
        return PLUGIN
    if first in OPS_SEGMENTS:
        return OPS
    if first in PUBLIC_SEGMENTS:
        return PUBLIC
    return PROVIDER


_NETWORK_MEMORY = 4096


@functools.lru_cache(maxsize=4096)
def address_text(address: Address) -> str:
    return str(address)


@functools.lru_cache(maxsize=4096)  # a server sees the same few peers over and over
def parse_address(text: str | None) -> Address | None:
    """An address as proxies and servers write it: bare, ``[v6]:port`` or
    ``v4:port``; IPv4-mapped IPv6 becomes IPv4.  ``None`` for anything else."""
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class Networks:
    def __init__(self, cidrs: Iterable[str]):
        self._networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._known: dict[Address, bool] = {}  # a server sees the same few peers over and over

    def __contains__(self, address: Address) -> bool:
        known = self._known.get(address)
        if known is None:
            known = any(address.version == n.version and address in n for n in self._networks)
            if len(self._known) >= _NETWORK_MEMORY:
                self._known.clear()
            self._known[address] = known
        return known

    def __bool__(self) -> bool:
        return bool(self._networks)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Networks) -> Address | None:
    """Who is calling: the peer, unless the peer is a trusted proxy; then the
    rightmost ``X-Forwarded-For`` hop that is not itself a trusted proxy.

    Hops left of the first untrusted one are whatever the client claimed and
    are ignored.  A hop a trusted proxy wrote that is not an address gives
    ``None`` (nobody to let in)."""
    address = parse_address(peer)
    if address is None or not forwarded_for or address not in proxies:
        return address
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None
        if hop_address not in proxies:
            return hop_address
        address = hop_address
    return address  # every hop was a proxy: the leftmost is the closest thing to a client


class SecretRoot:
    """The ``/<secret>`` prefix of the Plex routes, and how paths and route
    templates are shown in logs and metrics without it."""

    def __init__(self, secret: str):
        self.prefix = f"/{secret}" if secret else ""
        self._secret = secret
        self._masked = mask(secret) if secret else ""
        self.near_misses = NearMisses([secret] if secret else [], keep=ROUTE_WORDS)

    def shown(self, path: str) -> str:
        """The path as logs may show it: the secret masked anywhere in it,
        and anything holding a near miss of it (a run of ``nearmiss.RUN``
        of its characters: a typo, a character short, after any segment)
        hidden whole, as is an unknown first segment."""
        if not self._secret:
            return path
        path = self.near_misses.hide(path.replace(self._secret, self._masked))
        first, slash, rest = path.lstrip("/").partition("/")
        if first and first != self._masked and first not in KNOWN_SEGMENTS:
            return f"/***{slash}{rest}"
        return path

    def route(self, template: str) -> str:
        """A route template as it reads without the secret (``/library/metadata/{rating_key}``)."""
        if self.prefix and (template == self.prefix or template.startswith(self.prefix + "/")):
            return template[len(self.prefix):] or "/"
        return template

    def is_registration(self, path: str) -> bool:
        """The movie provider's registration (the root) or the TV provider's (``/tv``)."""
        return path.rstrip("/") in (self.prefix, f"{self.prefix}/tv")


# Names that only resolve on a local network: a DNS-rebinding page cannot
# own them (it needs a public name whose address it can change).
LOCAL_SUFFIXES = ("localhost", ".localhost", ".local", ".lan", ".home", ".home.arpa", ".internal",
                  ".intranet", ".localdomain")


class HostCheck:
    """Falcon middleware against DNS rebinding: a request must name, in
    ``Host``, a host s2p serves under.  A page on an attacker's domain that
    re-points that domain at s2p's address reaches s2p with the attacker's
    name in ``Host``; s2p answers it ``421`` without running any route.

    Served hosts: address literals (a browser's origin is then s2p itself),
    names of one label (``s2p``, a Docker service) or under a local-only
    suffix (``nas.local``), the names in ``[server] hosts`` and the host of
    ``[provider] public_url``."""

    def __init__(self, names: Iterable[str]):
        self._names = {n.strip().lower().rstrip(".") for n in names if n and n.strip()}
        self._known: dict[str | None, bool] = {}  # clients name s2p the same few ways over and over

    def serves(self, host_header: str | None) -> bool:
        known = self._known.get(host_header)
        if known is None:
            known = self._serves(host_header)
            if len(self._known) >= _NETWORK_MEMORY:
                self._known.clear()
            self._known[host_header] = known
        return known

    def _serves(self, host_header: str | None) -> bool:
        if not host_header:
            return True  # HTTP/1.0 without Host: no browser sends that
        host = host_header.strip().lower()
        if host.startswith("["):
            return True  # an IPv6 literal
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        host = host.rstrip(".")
        if parse_address(host) is not None or "." not in host or host in self._names:
            return True
        return host.endswith(LOCAL_SUFFIXES)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.serves(req.env.get("HTTP_HOST")):
            req.context.outcome = "refused: a host name s2p does not serve"
            raise falcon.HTTPError(
                "421 Misdirected Request", title="misdirected request",
                description="s2p does not serve this host name. Fix: if it is yours, add it to [server] hosts")


class _Caller(NamedTuple):
    text: str  # the address as logs show it, or "unknown"
    plex: bool  # in [server] allow
    ops: bool  # in [server] ops_allow


class AccessControl:
    """Falcon middleware: refuses callers before any route runs."""

    def __init__(self, settings: ServerSettings, root: SecretRoot, clock: Callable[[], float] = time.monotonic):
        self._allow = Networks(settings.allow)
        self._ops_allow = Networks(settings.ops_allow)
        self._proxies = Networks(settings.trusted_proxies)
        self._plex_clients = {c.strip().lower() for c in settings.plex_clients if c.strip()}
        self._root = root
        self._clock = clock
        self._lock = threading.Lock()
        self._last_logged: dict[tuple[str, str], float] = {}
        self._callers: dict[tuple[str | None, str | None], _Caller] = {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        env = req.env
        caller = self._caller(req.remote_addr, env.get("HTTP_X_FORWARDED_FOR"))
        context = req.context
        context.client = caller.text
        path = req.path
        context.path = self._root.shown(path)
        kind = route_class(path)
        if kind == PUBLIC:
            return
        if kind == PLUGIN or route_class(self._root.route(path)) == PLUGIN:
            # Stash's server calls these: it may sit where Plex does, or with the operators.
            if not (caller.plex or caller.ops):
                self._deny(req, "[server] allow or ops_allow", "this address may not call s2p's Stash plugin routes")
            return
        if kind == OPS:
            if not caller.ops:
                self._deny(req, "[server] ops_allow", "this address may not read s2p's operator pages")
            return
        if not caller.plex:
            self._deny(req, "[server] allow", "this address may not call s2p's Plex routes")
        if self._plex_clients and not self._root.is_registration(req.path):
            # PMS sends no identifier when the provider is registered, so the
            # registration answer (no library data in it) stays open.
            given = req.get_header("X-Plex-Client-Identifier") or req.get_param("X-Plex-Client-Identifier") or ""
            if given.strip().lower() not in self._plex_clients:
                self._deny(req, "[server] plex_clients", "this Plex server may not call s2p")

    def _caller(self, peer: str | None, forwarded_for: str | None) -> _Caller:
        """Who calls and where it may go, remembered per peer and forwarded chain."""
        key = (peer, forwarded_for)
        caller = self._callers.get(key)
        if caller is None:
            address = client_address(peer, forwarded_for, self._proxies)
            caller = _Caller(address_text(address) if address else "unknown",
                             address is not None and address in self._allow,
                             address is not None and address in self._ops_allow)
            if len(self._callers) >= _NETWORK_MEMORY:
                self._callers.clear()
            self._callers[key] = caller
        return caller

    def _deny(self, req: falcon.Request, key: str, detail: str) -> None:
        req.context.outcome = f"denied: not in {key}"
        self._log_denial(req.context.client, key, req.method, req.context.path)
        raise falcon.HTTPForbidden(title="forbidden", description=detail)

    def _log_denial(self, client: str, key: str, method: str, path: str) -> None:
        now = self._clock()
        with self._lock:
            last = self._last_logged.get((client, key))
            if last is not None and now - last < DENIAL_LOG_INTERVAL:
                return
            if len(self._last_logged) >= _DENIAL_MEMORY:
                self._last_logged.clear()
            self._last_logged[(client, key)] = now
        log.warning("refused %s %s from %s: not in %s (add its network there if it should be let in; "
                    "repeats are logged once a minute)", method, path[:200], client, key)
