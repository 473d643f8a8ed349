"""Registering s2p in Plex, and telling whether Plex can reach it.

Plex's API for custom metadata providers (PMS 1.43+, admin token):
``POST /media/providers/metadata?uri=`` adds a provider (Plex fetches the URL
itself and refuses one it cannot read; 409 when it is already there),
``PUT /media/providers/metadata/{id}?uri=`` points an existing one at a new
URL, and ``/media/providers/metadata/group`` lists and creates agents
(provider groups) with a primary provider.  These follow Plex's API listing
and what other providers' tools do; the tests run them against a fake PMS,
not a live one.  plexapi has no wrapper for them, so they are raw
``PlexServer.query`` calls.

Plex offers no way to ask "can you reach this URL?" without registering it.
What can be known is said as such: whether the URL is loopback while Plex
is elsewhere (then Plex cannot reach it), whether it answers from here as
this s2p, and whether Plex accepted it when it was registered.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO
from urllib.parse import urlsplit

import requests

from s2p.common.network import is_local_address, is_loopback_host
from s2p.pms.connect import PlexError, translate_errors

PROVIDERS = "/media/providers/metadata"
GROUPS = "/media/providers/metadata/group"
MIN_PLEX = (1, 43, 0)  # custom metadata providers arrived in PMS 1.43.0


class RegistrationError(Exception):
    """Registration cannot go on; the message says why and what to do."""


class SetupError(RegistrationError):
    """A problem with what s2p was asked to register (exit status 2)."""


# ---------------------------------------------------------------- addresses


def plex_shares_our_network(plex_url: str, resolve: Callable[[str], list[str]] | None = None) -> bool:
    """Whether the Plex we talk to lives in this network namespace, so that
    a loopback URL means the same place for Plex as for s2p.

    True when Plex's URL names a loopback address or one of this namespace's
    own addresses.  (Plex in a container publishing its port on this host's
    address also looks local; Plex's own fetch at registration catches that.)
    """
    host = urlsplit(plex_url).hostname or ""
    if is_loopback_host(host):
        return True
    addresses = (resolve or _resolve)(host)
    return any(is_local_address(address) for address in addresses)


def _resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    except (OSError, UnicodeError):
        return []


def loopback_problem(url: str, plex_url: str, lan: str | None,
                     resolve: Callable[[str], list[str]] | None = None) -> str | None:
    """Why Plex cannot reach ``url``, when it is loopback and Plex is elsewhere."""
    host = urlsplit(url).hostname or ""
    if not is_loopback_host(host) or plex_shares_our_network(plex_url, resolve):
        return None
    suggestion = url.replace(host, lan, 1) if lan else "http://<this machine's LAN address>:8008/"
    return (f"{url} is a loopback address: it means \"this machine\" to whoever uses it, and Plex "
            f"({plex_url}) is not on s2p's machine or network namespace, so for Plex it would be Plex's own "
            f"machine or container, where s2p is not. Fix: register an address Plex can reach, such as "
            f"{suggestion}, or http://<s2p's service name>:8008/ when Plex and s2p share a Docker network "
            "(docs/plex-setup.md, \"Which URL to register\").")


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"--url {url!r} is not an http:// or https:// URL with a host, "
                         "e.g. http://192.168.1.20:8008/")
    if parts.query or parts.fragment:
        raise SetupError(f"--url {url!r} must not carry a query string or fragment")
    try:
        _ = parts.port  # reading it checks it
    except ValueError:
        raise SetupError(f"--url {url!r} has an invalid port") from None
    return url


def same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


# ---------------------------------------------------------------- from here


@dataclass(frozen=True)
class Probe:
    answers: bool
    identifier: str | None
    detail: str


def probe(url: str, timeout: float = 5.0) -> Probe:
    """Fetch the provider root from here: does this URL lead to an s2p?"""
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        identifier = response.json()["MediaProvider"]["identifier"]
    except requests.RequestException as exc:
        return Probe(False, None, type(exc).__name__)
    except (ValueError, KeyError, TypeError):
        return Probe(False, None, f"HTTP {response.status_code}, not a metadata provider's answer")
    return Probe(True, str(identifier), "")


# ---------------------------------------------------------------- Plex's side


@dataclass(frozen=True)
class Provider:
    id: str
    identifier: str
    title: str
    uri: str


@dataclass(frozen=True)
class Agent:
    id: str
    title: str
    primary: str


@dataclass
class Outcome:
    url: str
    provider: str = ""  # "added", "already", "moved"
    previous_url: str | None = None
    agent: Agent | None = None
    agent_created: bool = False
    libraries_on_agent: list[str] = field(default_factory=list)
    other_libraries: list[str] = field(default_factory=list)


def status_of(exc: Exception) -> int | None:
    """The HTTP status in a plexapi error ("(409) conflict; ...")."""
    m = re.match(r"\((\d{3})\)", str(exc))
    return int(m.group(1)) if m else None


def plex_version(plex: Any) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(getattr(plex, "version", "") or ""))[:3])


class _PlexStatus(PlexError):
    """Plex answered with an HTTP error status worth telling apart (409, 400, ...)."""

    def __init__(self, status: int, error: PlexError):
        super().__init__(str(error))
        self.status = status


class PlexProviders:
    """The provider and agent calls, on a connected ``plexapi.server.PlexServer``."""

    def __init__(self, plex: Any, identifier: str, section_type: str = "movie"):
        self.plex = plex
        self.identifier = identifier
        self.section_type = section_type  # "movie", or "show" for the TV provider

    def _call(self, method: str, path: str, doing: str, **params: str) -> Any:
        session = self.plex._session
        try:
            return self.plex.query(path, method=getattr(session, method), params=params or None)
        except Exception as exc:  # plexapi and requests errors, made safe to show
            status = status_of(exc)
            if status is not None and status != 401:
                raise _PlexStatus(status, translate_errors(exc, doing)) from None
            raise translate_errors(exc, doing) from None

    def providers(self) -> list[Provider]:
        root = self._call("get", PROVIDERS, "listing metadata providers")
        return [Provider(e.get("id", ""), e.get("identifier", ""), e.get("title", ""), e.get("uri", ""))
                for e in (root.iter("MetadataAgentProvider") if root is not None else [])]

    def mine(self) -> Provider | None:
        return next((p for p in self.providers() if p.identifier == self.identifier), None)

    def agents(self) -> list[Agent]:
        root = self._call("get", GROUPS, "listing metadata agents")
        return [Agent(e.get("id", ""), e.get("title", ""), e.get("primaryIdentifier", ""))
                for e in (root.iter("MetadataAgentProviderGroup") if root is not None else [])]

    def my_agent(self) -> Agent | None:
        return next((a for a in self.agents() if a.primary == self.identifier), None)

    def libraries(self) -> tuple[list[str], list[str]]:
        """(titles of libraries of this provider's kind on its agent, titles of the others of that kind)."""
        try:
            sections = [s for s in self.plex.library.sections() if s.type == self.section_type]
        except Exception as exc:
            raise translate_errors(exc, "listing libraries") from None
        ours = [s.title for s in sections if s.agent == self.identifier]
        return ours, [s.title for s in sections if s.agent != self.identifier]

    def register(self, url: str, agent_title: str) -> Outcome:
        outcome = Outcome(url)
        try:
            self._call("post", PROVIDERS, "registering s2p", uri=url)
            outcome.provider = "added"
        except _PlexStatus as exc:
            if exc.status != 409:
                raise self._refused(url, exc) from None
            outcome.provider = "already"  # 409: this URL or this identifier is there already
        providers = self.providers()
        mine = next((p for p in providers if p.identifier == self.identifier), None)
        if mine is None:
            other = next((p for p in providers if same_url(p.uri, url)), None)
            if other is not None:
                raise RegistrationError(
                    f"Plex has {url} registered as provider {other.identifier} ({other.title!r}), but this s2p is "
                    f"{self.identifier}. Fix: set [provider] identifier back to {other.identifier}, or remove the "
                    "old provider in Plex (Settings > Metadata Agents) and register again; items matched under "
                    "the old identifier must then be matched again.")
            raise RegistrationError(f"Plex accepted {url} but lists no provider {self.identifier}: the URL serves "
                                    "another provider. Fix: give the URL of this s2p (s2p logs it at start-up).")
        if not same_url(mine.uri, url):
            self._repoint(mine, url)
            outcome.provider, outcome.previous_url = "moved", mine.uri
        agent = self.my_agent()
        if agent is None:
            self._call("post", GROUPS, "creating the agent", title=agent_title, primaryIdentifier=self.identifier)
            agent = self.my_agent()
            outcome.agent_created = True
            if agent is None:
                raise RegistrationError("Plex did not list the agent it was asked to create; create it in Plex: "
                                        "Settings > Metadata Agents > Add Agent, with s2p as primary")
        outcome.agent = agent
        outcome.libraries_on_agent, outcome.other_libraries = self.libraries()
        return outcome

    def _repoint(self, provider: Provider, url: str) -> None:
        try:
            self._call("put", f"{PROVIDERS}/{provider.id}", "moving s2p to its new URL", uri=url)
        except _PlexStatus as exc:
            raise self._refused(url, exc) from None

    def _refused(self, url: str, exc: _PlexStatus) -> RegistrationError:
        return RegistrationError(
            f"Plex refused {url} (HTTP {exc.status}). Plex fetches the URL itself when a provider is added, and "
            f"refuses one it cannot reach or read. Fix: make sure Plex's machine or container can open {url} "
            "(for example with curl from there), that s2p is running, and that [server] allow admits Plex's "
            "address.")


# ---------------------------------------------------------------- commands


def run_register(connect: Callable[[], Any], identifier: str, url: str, agent_title: str, plex_url: str,
                 lan: str | None, out: TextIO, *, tv: bool = False) -> int:
    """``s2p register``: 0 done, 1 Plex failed or refused, 2 nothing sent (fix the setup).
    ``tv``: the TV provider (at ``/tv``), whose agent serves TV Shows libraries."""
    problem = loopback_problem(url, plex_url, lan)
    if problem:
        print(f"s2p register: refusing: {problem}", file=out)
        return 2
    here = probe(url)
    if here.answers and here.identifier != identifier:
        print(f"s2p register: refusing: {url} answers as provider {here.identifier}, not as this s2p "
              f"({identifier}). Fix: give the URL of this s2p (s2p logs it at start-up).", file=out)
        return 2
    if here.answers:
        print(f"  from here: {url} answers as {identifier}", file=out)
    else:
        print(f"  from here: {url} does not answer ({here.detail}); asking Plex anyway, as Plex may reach "
              "it by another route. Is s2p running?", file=out)
    try:
        plex = connect()
        print(f"  plex: {plex_url}, {getattr(plex, 'friendlyName', '') or 'Plex'} {plex.version}", file=out)
        if plex_version(plex) and plex_version(plex) < MIN_PLEX:
            print("  plex: custom metadata providers need Plex Media Server 1.43.0 or newer: update Plex first",
                  file=out)
            return 1
        outcome = PlexProviders(plex, identifier, "show" if tv else "movie").register(url, agent_title)
    except (PlexError, RegistrationError) as exc:
        print(f"FAILED: {exc}", file=out)
        return 1
    if outcome.provider == "added":
        print(f"  provider: registered {url} (Plex fetched it and accepted it)", file=out)
    elif outcome.provider == "moved":
        print(f"  provider: moved from {outcome.previous_url} to {url}", file=out)
    else:
        print(f"  provider: already registered at {url}", file=out)
    assert outcome.agent is not None
    verb = "created" if outcome.agent_created else "using the existing"
    print(f"  agent: {verb} agent \"{outcome.agent.title}\" with s2p as its primary provider", file=out)
    if outcome.libraries_on_agent:
        print(f"  libraries already on s2p's agent: {', '.join(outcome.libraries_on_agent)}", file=out)
    kind = "TV Shows library (scanner \"Plex TV Series\")" if tv else "Movies library"
    print(f"Left to do in Plex's web app, for each {kind} that holds your scenes"
          + (f" (on other agents now: {', '.join(outcome.other_libraries)})"
             if outcome.other_libraries else "") + ":", file=out)
    print(f"  the library > Edit > Advanced > Agent: \"{outcome.agent.title}\" > Save Changes; then the library's "
          "... menu > Refresh All Metadata, so the items already there are matched by s2p.", file=out)
    return 0


@dataclass(frozen=True)
class ProviderCheck:
    """One of s2p's providers, as ``s2p check`` reports it."""

    identifier: str
    default_url: str | None  # what ``s2p register`` would register (None: it needs --url)
    section_type: str = "movie"  # the libraries its agent serves: "movie", or "show" for the TV provider
    name: str = "s2p"
    command: str = "s2p register"


def report_plex(connect: Callable[[], Any], checks: list[ProviderCheck], plex_url: str, lan: str | None,
                out: TextIO) -> bool:
    """The Plex part of ``s2p check``, for each provider in ``checks``; False when something is wrong."""
    try:
        plex = connect()
        print(f"  plex: reachable at {plex_url}, {getattr(plex, 'friendlyName', '') or 'Plex'} {plex.version}",
              file=out)
        if plex_version(plex) and plex_version(plex) < MIN_PLEX:
            print("  plex: custom metadata providers need Plex Media Server 1.43.0 or newer", file=out)
            return False
    except PlexError as exc:
        print(f"  plex: {exc}", file=out)
        return False
    results = [_report_provider(plex, check, plex_url, lan, out) for check in checks]
    return all(results)


def _report_provider(plex: Any, check: ProviderCheck, plex_url: str, lan: str | None, out: TextIO) -> bool:
    name, identifier = check.name, check.identifier
    try:
        providers = PlexProviders(plex, identifier, check.section_type)
        mine = providers.mine()
        agent = providers.my_agent() if mine else None
        on_agent, _ = providers.libraries() if agent else ([], [])
    except PlexError as exc:
        print(f"  plex: {exc}", file=out)
        return False
    url = mine.uri if mine else check.default_url
    if mine:
        print(f"  plex: {name} is registered at {url}; Plex accepted that URL when it was registered (Plex "
              "fetches a provider's URL when it is added)", file=out)
        primary = f"{agent.title!r}, {name} as primary" if agent else \
            f"none has {name} as primary (run {check.command})"
        print(f"  plex: agent: {primary}; libraries on it: {', '.join(on_agent) or 'none yet'}", file=out)
    elif url:
        print(f"  plex: {name} is not registered; `{check.command}` would register {url}", file=out)
    else:
        print(f"  plex: {name} is not registered; in a container, run {check.command} --url <the URL Plex can "
              "reach> (docs/plex-setup.md, \"Which URL to register\")", file=out)
        return True
    assert url is not None  # Plex's record of it, or the default checked above
    problem = loopback_problem(url, plex_url, lan)
    if problem:
        print(f"  plex: Plex cannot reach {name} at that URL: {problem}", file=out)
        return False
    here = probe(url)
    if here.answers and here.identifier == identifier:
        print(f"  plex: from here, {url} answers as {identifier}", file=out)
    elif here.answers:
        print(f"  plex: {url} answers as {here.identifier}, not as {name} ({identifier})", file=out)
        return False
    else:
        print(f"  plex: from here, {url} does not answer ({here.detail}); is s2p serving?", file=out)
    print("  plex: whether Plex reaches it now is proven only by Plex: "
          + ("s2p logs every request it answers, one line each at INFO" if mine
             else f"`{check.command}` makes Plex fetch it and says so"),
          file=out)
    return True
