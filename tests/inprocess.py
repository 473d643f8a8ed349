"""s2p and its fake Stash in one process, without sockets.

Route tests call s2p through ``falcon.testing`` on a runtime built with the
fakes; s2p reaches the fake Stash through a ``requests`` transport that
hands each request to the stand-in's WSGI app.  Everything above the socket
is the code that runs in production: the Stash client, its deadline, its
retries and circuit breaker; only waitress and the network are left out
(the tests marked ``integration`` keep those).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

import falcon.testing
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from s2p.app.runtime import Runtime
from s2p.config import Settings

# The address the in-process Stash answers at (never resolved: the transport is mounted for it).
STASH_URL = "http://stash.test"


class _BodyStream(io.RawIOBase):
    """A WSGI body iterator read as a file, lazily (a dripping reply drips)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._closer = getattr(chunks, "close", None)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None
        super().close()


class WSGITransport(BaseAdapter):
    """A ``requests`` transport that hands each request to a WSGI app in-process."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        super().__init__()
        self._app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        if getattr(self._app, "unreachable", False):  # as a stopped server: nothing listens
            raise requests.ConnectionError(f"{request.url}: [Errno 111] Connection refused")
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        environ = {
            "REQUEST_METHOD": request.method or "GET", "PATH_INFO": url.path or "/", "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "stash.test", "SERVER_PORT": str(url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": url.scheme or "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started["status"], started["headers"] = status, headers

        chunks = self._app(environ, start_response)
        response = requests.Response()
        response.status_code = int(started["status"].split(" ", 1)[0])
        response.reason = started["status"].partition(" ")[2]
        response.headers = CaseInsensitiveDict(started["headers"])
        response.raw = io.BufferedReader(_BodyStream(chunks))
        response.url = request.url or ""
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        if not stream:
            response.content  # noqa: B018 (read the whole body now, as requests does)
        return response

    def close(self) -> None:
        pass


def stash_session(app: Callable[..., Iterable[bytes]]) -> requests.Session:
    """A session whose requests to ``STASH_URL`` reach ``app`` in-process
    (mounted for that address, so it wins over the client's own transport)."""
    session = requests.Session()
    session.mount(STASH_URL + "/", WSGITransport(app))
    return session


class Reply:
    """A ``falcon.testing.Result`` read as tests read a ``requests.Response``."""

    def __init__(self, result: falcon.testing.Result):
        self._result = result
        self.status_code = result.status_code
        self.headers = CaseInsensitiveDict(result.headers)
        self.content = result.content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return self._result.json

    def raise_for_status(self) -> None:
        if not self.ok:
            raise requests.HTTPError(f"{self.status_code} {self.text[:200]}")


@dataclass
class InProcessS2P:
    """s2p's app called in-process; the same calls as ``helpers.CallsS2P``."""

    settings: Settings
    services: Runtime
    client: falcon.testing.TestClient
    url: str = "http://127.0.0.1:8008"  # the address requests appear to come to

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                remote_addr: str = "127.0.0.1", **ignored: Any) -> Reply:
        url = urlsplit(self.url)
        if path.startswith(("http://", "https://")):  # a URL s2p handed out (an image's)
            given = urlsplit(path)
            path = given.path + (f"?{given.query}" if given.query else "")
        if "?" in path and params is None:
            path, _, query = path.partition("?")
            extra_query: str | None = query
        else:
            extra_query = None
        extra: dict[str, Any] = {}
        if extra_query is not None:
            extra["query_string"] = extra_query
        if json is not None:
            extra["json"] = json
        elif data is not None:
            extra["body"] = data
        if params:
            extra["params"] = params
        result = self.client.simulate_request(method, path, headers=headers or {}, host=url.hostname or "127.0.0.1",
                                              port=url.port or 80, remote_addr=remote_addr, **extra)
        return Reply(result)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Reply:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def match(self, **hints: Any) -> Reply:
        return self.post("/library/metadata/matches", json=hints)

    def poster_path(self, scene_id: str = "1") -> str:
        from s2p.artwork.links import RouteImageLinks
        from s2p.common.deadline import Deadline

        scene = self.services.scenes.get(scene_id, deadline=Deadline(10))
        return RouteImageLinks("", self.services.signer()).scene(scene, "poster") or ""
