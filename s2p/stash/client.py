"""The one door to Stash: GraphQL and image requests over one HTTP session.

Every request is bounded three ways: a limit on concurrent requests (Stash
runs on SQLite and slows down badly under parallel load), a bounded wait for
a free slot, and a timeout that never exceeds the caller's remaining budget.
Failures come out as the exception types of ``errors``; the API key travels
only in the ``ApiKey`` header and never appears in a message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from s2p import __version__
from s2p.common.backoff import Backoff
from s2p.common.deadline import Deadline
from s2p.config import StashSettings
from s2p.stash.breaker import CircuitBreaker
from s2p.stash.errors import StashAuthError, StashError, StashQueryError, StashUnavailable
from s2p.stash.queries import Document
from s2p.stash.watchdog import Watchdog, WatchedAdapter

log = logging.getLogger(__name__)
T = TypeVar("T")

# Stash's images are small (screenshots, head shots); anything bigger than
# this is not an image we want to hold in memory.
MAX_IMAGE_BYTES = 32 * 1024 * 1024
# A GraphQL answer (a page of the index load is a few MB) is never bigger.
MAX_REPLY_BYTES = 128 * 1024 * 1024
# A retry is only worth starting with at least this much budget left.
MIN_RETRY_BUDGET = 0.5
# Between tries of one request: 50-100% of 0.1 s, 0.2 s, 0.4 s ... at most 2 s ([stash] retries bounds the count).
RETRY_BACKOFF = Backoff(base=0.1, cap=2.0)


class _Transient(StashUnavailable):
    """A failure of the transport or of Stash itself, counted by the circuit
    breaker.  Timeouts are not retried: a Stash too slow to answer is not
    helped by being asked again."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class _BusyDatabase(StashQueryError):
    """Stash's SQLite was locked by a writer: worth a retry."""


@dataclass(frozen=True)
class FetchedImage:
    content: bytes
    content_type: str
    last_modified: str | None = None


class StashStats:
    """Counters of the requests sent to Stash (for health, metrics, benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.queries: dict[str, int] = {}
        self.images = 0
        self.errors: dict[str, int] = {}
        self.in_flight = 0
        self.last_error: str | None = None
        self.last_success: float | None = None

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self, kind: str, error: Exception | None) -> None:
        with self._lock:
            self.in_flight -= 1
            if kind == "image":
                self.images += 1
            else:
                self.queries[kind] = self.queries.get(kind, 0) + 1
            if error is None:
                self.last_success = time.time()
            else:
                # Counted under the public type callers see (not private subtypes).
                name = next(c.__name__ for c in type(error).__mro__ if not c.__name__.startswith("_"))
                self.errors[name] = self.errors.get(name, 0) + 1
                self.last_error = str(error)

    def snapshot(self) -> dict:
        """All counters at one instant (for metrics)."""
        with self._lock:
            return {"queries": dict(self.queries), "errors": dict(self.errors), "images": self.images,
                    "in_flight": self.in_flight, "last_success": self.last_success}

class Slots:
    """The Stash request slots ([stash] max_concurrency), served urgent
    waiters first: a Plex request waiting for its scene takes the next free
    slot before a title search (which may run for seconds) does.

    A freed slot is handed to one waiter, first come first served within
    its kind, and only that waiter wakes: waking every waiter on every
    release cost a busy server as much CPU as the exchanges themselves."""

    def __init__(self, count: int):
        self._free = count
        self._lock = threading.Lock()
        self._urgent: deque[_Waiter] = deque()
        self._patient: deque[_Waiter] = deque()

    def acquire(self, timeout: float, *, urgent: bool = True) -> bool:
        with self._lock:
            if self._free > 0 and not self._urgent and (urgent or not self._patient):
                self._free -= 1
                return True
            if timeout <= 0:
                return False
            waiter = _Waiter()
            (self._urgent if urgent else self._patient).append(waiter)
        if waiter.granted.acquire(timeout=timeout):
            return True
        with self._lock:
            if waiter.handed:  # handed over as the wait ran out: it is ours
                return True
            (self._urgent if urgent else self._patient).remove(waiter)
            return False

    def release(self) -> None:
        with self._lock:
            waiter = self._urgent.popleft() if self._urgent else self._patient.popleft() if self._patient else None
            if waiter is None:
                self._free += 1
                return
            waiter.handed = True
        waiter.granted.release()


class _Waiter:
    __slots__ = ("granted", "handed")

    def __init__(self) -> None:
        self.granted = threading.Lock()
        self.granted.acquire()
        self.handed = False


# An urgent request waits for a slot as long as its budget allows, less this
# much (capped by [stash] timeout) kept for the exchange itself.
EXCHANGE_RESERVE = 2.0


class StashClient:
    def __init__(self, settings: StashSettings, *, session: requests.Session | None = None):
        self._settings = settings
        self._base = settings.url
        self._graphql_url = settings.url + "/graphql"
        self._slots = Slots(settings.max_concurrency)
        self.stats = StashStats()
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown)
        self._session = session or requests.Session()
        # Every exchange ends by its deadline, the reply's body included (watchdog).
        self._watchdog = Watchdog()
        adapter = WatchedAdapter(self._watchdog, pool_connections=1, pool_maxsize=settings.max_concurrency,
                                 max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.verify = settings.verify_tls
        _settle_environment(self._session, settings.url)
        self._session.headers["User-Agent"] = f"s2p/{__version__}"
        api_key = settings.api_key.get_secret_value()
        if api_key:
            # Stash rejects any ApiKey when it has none configured: send it only when set.
            self._session.headers["ApiKey"] = api_key

    @property
    def base_url(self) -> str:
        return self._base

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------ GraphQL

    def query(
        self, document: Document, variables: Mapping[str, Any] | None = None, *, deadline: Deadline | None = None,
        urgent: bool = True,
    ) -> dict[str, Any]:
        """Run one document; returns its ``data`` or raises a ``StashError``.
        ``urgent=False`` (title searches): wait at most [stash] slot_wait for
        a slot, and after every urgent request waiting."""
        payload = {"operationName": document.name, "query": document.text, "variables": dict(variables or {})}
        return self._with_retries(lambda d: self._query_once(document, payload, d, urgent), deadline)

    def _query_once(self, document: Document, payload: dict[str, Any], deadline: Deadline,
                    urgent: bool = True) -> dict[str, Any]:
        response = self._send("POST", self._graphql_url, document.name, deadline, MAX_REPLY_BYTES, json=payload,
                              headers={"Accept": "application/json"}, urgent=urgent)
        if response.status_code == 404:
            raise StashUnavailable(f"{self._graphql_url} answered HTTP 404; check [stash] url")
        try:
            body = response.json()
        except ValueError:
            raise StashUnavailable(f"Stash answered {document.name} with something other than JSON") from None
        if not isinstance(body, dict):
            raise StashUnavailable(f"Stash answered {document.name} with unexpected JSON")
        errors = body.get("errors")
        if errors:
            messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
            if any("database is locked" in m for m in messages):
                raise _BusyDatabase(messages)
            raise StashQueryError(messages)
        data = body.get("data")
        if not isinstance(data, dict):
            raise StashUnavailable(f"Stash answered {document.name} without data")
        return data

    # ------------------------------------------------------------ images

    def fetch_image(self, stash_url: str, *, deadline: Deadline | None = None) -> FetchedImage | None:
        """Fetch an image Stash pointed us to; ``None`` when Stash has none.

        Only the path and query of ``stash_url`` are used, joined to the
        configured Stash URL: the host in Stash's own URLs is whatever Host
        header reached Stash, and s2p never fetches from anywhere else.
        """
        parts = urlsplit(stash_url)
        target = self._base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self._with_retries(lambda d: self._fetch_once(target, d), deadline)

    def _fetch_once(self, target: str, deadline: Deadline) -> FetchedImage | None:
        response = self._send("GET", target, "image", deadline, MAX_IMAGE_BYTES)
        if response.status_code == 404:
            return None
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise StashUnavailable(f"Stash answered an image request with {content_type or 'no content type'}")
        return FetchedImage(response.content, content_type, response.headers.get("Last-Modified"))

    # ------------------------------------------------------------ transport

    def _with_retries(self, attempt: Callable[[Deadline], T], deadline: Deadline | None) -> T:
        """Run ``attempt(deadline)``, retrying transient failures with
        jittered exponential backoff while the budget allows.  Every request
        s2p sends to Stash is a read, so retrying is always safe."""
        deadline = deadline or Deadline(self._settings.timeout + self._settings.slot_wait)
        tries = 0
        while True:
            try:
                return attempt(deadline)
            except (_Transient, _BusyDatabase) as exc:
                if isinstance(exc, _Transient) and not exc.retry:
                    raise
                tries += 1
                backoff = RETRY_BACKOFF.delay(tries)
                if tries > self._settings.retries or deadline.remaining() < backoff + MIN_RETRY_BUDGET:
                    if isinstance(exc, _BusyDatabase):
                        raise StashUnavailable(f"Stash's database stayed locked ({exc})") from None
                    raise
                log.debug("Stash request failed (%s); retry %d in %.2fs", exc, tries, backoff)
                time.sleep(backoff)

    def _send(self, method: str, url: str, kind: str, deadline: Deadline, limit: int, *, urgent: bool = True,
              **kwargs: Any) -> requests.Response:
        """One exchange, its whole reply read within ``min([stash] timeout,
        what is left of the budget)`` while it holds a Stash slot."""
        if deadline.expired:
            raise StashUnavailable("no time left in this request's budget to ask Stash")
        self.breaker.before_request()
        if urgent:  # as long as the budget allows, keeping time for the exchange itself
            wait = max(0.0, deadline.remaining() - min(EXCHANGE_RESERVE, self._settings.timeout))
            wait = max(wait, deadline.cap(self._settings.slot_wait))
        else:
            wait = deadline.cap(self._settings.slot_wait)
        if not self._slots.acquire(wait, urgent=urgent):
            self.breaker.record_neutral()
            raise StashUnavailable(
                f"Stash is busy: no free slot within {wait:.1f}s "
                f"({self._settings.max_concurrency} requests already running)"
            )
        try:
            read_timeout = deadline.cap(self._settings.timeout)
            if read_timeout <= 0:
                self.breaker.record_neutral()
                raise StashUnavailable("no time left in this request's budget to ask Stash")
            return self._request(method, url, kind, read_timeout, limit, **kwargs)
        finally:
            self._slots.release()

    def _request(self, method: str, url: str, kind: str, read_timeout: float, limit: int,
                 **kwargs: Any) -> requests.Response:
        error: Exception | None = None
        self.stats.started()
        started = time.monotonic()
        connect_timeout = min(self._settings.connect_timeout, read_timeout)
        watch = self._watchdog.begin(read_timeout)
        try:
            try:
                response = self._session.request(
                    method, url, timeout=(connect_timeout, read_timeout), allow_redirects=False, stream=True,
                    **kwargs
                )
                try:
                    _check_status(response, self._base)
                    # The body too, within the deadline (requests reads it lazily).
                    response._content = _read_limited(response, limit) if response.status_code == 200 else b""
                finally:
                    response.close()
            except (requests.RequestException, OSError) as exc:
                if watch.fired:
                    raise _Transient(f"Stash did not finish answering within {read_timeout:.1f}s",
                                     retry=False) from None
                if isinstance(exc, requests.Timeout):
                    raise _Transient(f"Stash did not answer within {read_timeout:.1f}s", retry=False) from None
                if isinstance(exc, requests.ConnectionError):
                    raise _Transient(f"cannot connect to Stash at {self._base} ({_reason(exc)})") from None
                raise _Transient(f"request to Stash failed ({type(exc).__name__})") from None
            self.breaker.record_success()
            return response
        except _Transient as exc:
            error = exc
            self.breaker.record_failure(str(exc))
            raise
        except StashError as exc:
            # Stash answered (a refusal, a redirect): it is alive.
            error = exc
            self.breaker.record_success()
            raise
        finally:
            self._watchdog.end(watch)
            self.stats.finished(kind, error)
            log.debug("stash %s %s in %.1f ms%s", kind, method, (time.monotonic() - started) * 1000,
                      f" failed: {error}" if error else "")


def _settle_environment(session: requests.Session, url: str) -> None:
    """Read the proxy, CA bundle and netrc settings from the environment
    once, as requests would on every exchange: walking the environment per
    request cost a tenth of a fetch's CPU."""
    proxies = requests.utils.get_environ_proxies(url)  # honours no_proxy
    if proxies:
        session.proxies.update(proxies)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if session.verify is True and bundle:
        session.verify = bundle
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False


def _check_status(response: requests.Response, base: str) -> None:
    status = response.status_code
    if status in (200, 404):
        return
    response.close()
    if status in (401, 403):
        raise StashAuthError(
            f"Stash refused s2p's credentials (HTTP {status}). Fix: set [stash] api_key to the API key "
            "shown in Stash's Settings > Security (or leave it empty when Stash has no login)"
        )
    if status in (301, 302, 303, 307, 308):
        location = response.headers.get("Location", "")
        if "/login" in location:
            raise StashAuthError(
                "Stash asks for a login. Fix: set [stash] api_key to the API key shown in Stash's "
                "Settings > Security"
            )
        raise StashUnavailable(f"Stash redirected the request (HTTP {status}); check [stash] url ({base})")
    if status >= 500:
        raise _Transient(f"Stash failed with HTTP {status}")
    raise StashError(f"Stash answered HTTP {status}")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution", "Network is unreachable", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _read_limited(response: requests.Response, limit: int) -> bytes:
    chunks = []
    total = 0
    for chunk in response.iter_content(64 * 1024):
        total += len(chunk)
        if total > limit:
            raise StashUnavailable(f"Stash sent a reply larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
