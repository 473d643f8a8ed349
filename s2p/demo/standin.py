"""A loopback stand-in for Stash's HTTP API over a ``Library``.

It answers ``POST /graphql`` and the image routes the way Stash does (API
key in the ``ApiKey`` header, 401 for a wrong key, a redirect to /login for
images without one), and can be made slow, busy or failing: the demo, the
tests and the benchmarks all talk to it over real HTTP.

GraphQL documents are answered by an *executor*.  The default one reads the
root fields and their ``$variables`` from the document and calls the
library; it does not prune the answer to the selected fields.  The tests
plug in an executor that validates and executes with graphql-core.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs

from s2p.demo.library import ROOT_FIELDS, Library, NotFound

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

Executor = Callable[[str, dict[str, Any], str | None], dict[str, Any]]

_IMAGE_ROUTE = re.compile(r"^/(scene|performer|studio|tag|group)/(\d+)/(screenshot|image|frontimage|backimage)$")


class NamedOperationExecutor:
    """Runs s2p-style documents: root fields whose arguments are variables."""

    def __init__(self, library: Library):
        self.library = library

    def __call__(self, document: str, variables: dict[str, Any], operation_name: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        try:
            for field, arguments in root_fields(document, operation_name):
                method = ROOT_FIELDS.get(field)
                if method is None:
                    return {"errors": [{"message": f"the stand-in does not serve {field}"}], "data": None}
                kwargs = {name: variables.get(var) for name, var in arguments.items()}
                data[field] = getattr(self.library, method)(**{k: v for k, v in kwargs.items() if v is not None})
        except (NotFound, ValueError, TypeError) as exc:
            return {"errors": [{"message": str(exc), "path": [field]}], "data": None}
        return {"data": data}


def root_fields(document: str, operation_name: str | None) -> list[tuple[str, dict[str, str]]]:
    """``[(field, {argument: variable})]`` of one operation's top level."""
    text = re.sub(r"#[^\n]*", "", document)
    if operation_name:
        m = re.search(r"\b(?:query|mutation)\s+" + re.escape(operation_name) + r"\b", text)
    else:
        m = re.search(r"\b(?:query|mutation)\b|\{", text)
    if not m:
        raise ValueError(f"operation {operation_name} not found")
    i = m.end() if m.group(0) != "{" else m.start()
    # Skip the variable definitions, then enter the selection set.
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "{" and depth == 0:
            break
        i += 1
    i += 1
    fields = []
    token = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
    while i < len(text):
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "}":
            break
        m = token.match(text, i)
        if not m:
            raise ValueError(f"cannot read the document at {text[i:i + 20]!r}")
        name, i = m.group(1), m.end()
        arguments: dict[str, str] = {}
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "(":
            end = text.index(")", i)
            for arg, var in re.findall(r"([A-Za-z_]\w*)\s*:\s*\$([A-Za-z_]\w*)", text[i + 1:end]):
                arguments[arg] = var
            i = end + 1
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "{":
            level = 0
            while i < len(text):
                if text[i] == "{":
                    level += 1
                elif text[i] == "}":
                    level -= 1
                    if level == 0:
                        i += 1
                        break
                i += 1
        fields.append((name, arguments))
    return fields


class StashStandIn:
    """The WSGI app.  Counters and knobs are plain attributes, safe to change
    while it serves."""

    def __init__(
        self,
        library: Library,
        *,
        api_key: str = "",
        executor: Executor | None = None,
        latency: float = 0.0,
        max_concurrency: int | None = None,
    ):
        self.library = library
        self.api_key = api_key
        self.executor = executor or NamedOperationExecutor(library)
        self.latency = latency
        # None, "error" (HTTP 500), "hang" (never answers in time) or "drip" (the
        # headers at once, then the body a byte every drip_interval seconds)
        self.failure: str | None = None
        self.hang_seconds = 30.0
        self.drip_interval = 0.5
        self._healed = threading.Event()
        self.counts: Counter[str] = Counter()
        self.headers_seen: list[dict[str, str]] = []
        self._count_lock = threading.Lock()
        self._slots = threading.Semaphore(max_concurrency) if max_concurrency else None
        self.peak_concurrency = 0
        self._running = 0

    def fail(self, mode: str) -> None:
        """Start failing: "error" (HTTP 500), "hang" (no answer for hang_seconds)
        or "drip" (the body a byte at a time)."""
        self._healed.clear()
        self.failure = mode

    def heal(self) -> None:
        """Answer normally again, releasing any request held by "hang"."""
        self.failure = None
        self._healed.set()

    def reset_counts(self) -> None:
        with self._count_lock:
            self.counts.clear()
            self.headers_seen.clear()

    @property
    def graphql_requests(self) -> int:
        return self.counts["graphql"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        with self._count_lock:
            if len(self.headers_seen) < 10000:
                self.headers_seen.append(headers)
        if path == "/healthz":
            return _respond(start_response, "200 OK", b"", "text/plain")
        if path == "/_standin/counts":
            # Not part of Stash: lets a benchmark in another process read the counters.
            with self._count_lock:
                counts = dict(self.counts, peak_concurrency=self.peak_concurrency)
            return _respond(start_response, "200 OK", json.dumps(counts).encode())
        authorised = self._authorised(headers, environ)
        if path == "/graphql" and method == "POST":
            if authorised is not True:
                return _respond(start_response, "401 Unauthorized", b'{"message":"unauthorized"}')
            return self._timed(lambda: self._graphql(environ, start_response), "graphql")
        m = _IMAGE_ROUTE.match(path)
        if m and method == "GET":
            if authorised is None:
                start_response("302 Found", [("Location", f"/login?returnURL={path}"), ("Content-Length", "0")])
                return [b""]
            if authorised is False:
                return _respond(start_response, "401 Unauthorized", b"")
            return self._timed(lambda: self._image(m.group(1), m.group(2), start_response), "image")
        return _respond(start_response, "404 Not Found", b"404 page not found", "text/plain")

    def _authorised(self, headers: dict[str, str], environ: dict[str, Any]) -> bool | None:
        """True: allowed; False: a wrong key; None: no key where one is needed."""
        given = headers.get("Apikey") or parse_qs(environ.get("QUERY_STRING", "")).get("apikey", [""])[0]
        if not self.api_key:
            return True if not given else False
        if not given:
            return None
        return given == self.api_key

    def _timed(self, handler: Callable[[], list[bytes]], kind: str) -> Iterable[bytes]:
        with self._count_lock:
            self.counts[kind] += 1
        if self._slots is not None:
            self._slots.acquire()
        try:
            with self._count_lock:
                self._running += 1
                self.peak_concurrency = max(self.peak_concurrency, self._running)
            if self.failure == "hang":
                self._healed.wait(self.hang_seconds)
            elif self.latency:
                time.sleep(self.latency)
            if self.failure == "drip":
                return self._drip(handler())
            return handler()
        finally:
            with self._count_lock:
                self._running -= 1
            if self._slots is not None:
                self._slots.release()

    def _drip(self, chunks: list[bytes]) -> Iterator[bytes]:
        body = b"".join(chunks)
        for at in range(len(body)):
            if self.failure != "drip":
                yield body[at:]
                return
            yield body[at:at + 1]
            self._healed.wait(self.drip_interval)

    def _graphql(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if self.failure == "error":
            return _respond(start_response, "500 Internal Server Error", b'{"message":"failure"}')
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length))
            document = request["query"]
        except (ValueError, KeyError, TypeError):
            return _respond(start_response, "422 Unprocessable Entity", b'{"errors":[{"message":"bad request"}]}')
        operation = request.get("operationName")
        with self._count_lock:
            self.counts[f"op:{operation}"] += 1
        result = self.executor(document, request.get("variables") or {}, operation)
        return _respond(start_response, "200 OK", json.dumps(result).encode())

    def _image(self, kind: str, entity_id: str, start_response: StartResponse) -> list[bytes]:
        if self.failure == "error":
            return _respond(start_response, "500 Internal Server Error", b"failure", "text/plain")
        content = self.library.image(kind, entity_id)
        if content is None:
            return _respond(start_response, "404 Not Found", b"not found", "text/plain")
        return _respond(start_response, "200 OK", content, self.library.content_type(kind, entity_id))


def _respond(start_response: StartResponse, status: str, body: bytes,
             content_type: str = "application/json") -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
