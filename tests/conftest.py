"""Fixtures: a fake Stash, s2p under waitress on loopback, the archive.
Names tests import (keys, roots, settings builders, clients) live in ``helpers``."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest

from s2p.app.runtime import build
from s2p.app.server import BackgroundServer, create_server
from s2p.app.webapp import create_app
from s2p.demo import start_standin
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn

from fakestash import SchemaCheckingExecutor
from helpers import API_KEY, SECRET_WATCH, STASH_ROOT, RunningS2P, make_settings
from inprocess import STASH_URL, InProcessS2P, stash_session


# ---------------------------------------------------------------- secrets in logs

# One handler sees every log record of the whole session at DEBUG; a test
# after which a record carried a configured secret fails.


def pytest_configure(config):
    SECRET_WATCH.install(logging.getLogger())


def pytest_unconfigure(config):
    SECRET_WATCH.uninstall(logging.getLogger())


def pytest_sessionfinish(session, exitstatus):
    # Records logged between tests (background threads) are caught here.
    if SECRET_WATCH.leaks:
        print(f"\na secret reached the log: {SECRET_WATCH.leaks[:3]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def no_secret_in_logs():
    SECRET_WATCH.install(logging.getLogger())  # again, in case a test replaced the root handlers
    seen = len(SECRET_WATCH.leaks)
    yield
    leaks = SECRET_WATCH.leaks[seen:]
    assert not leaks, f"a secret reached the log: {leaks[:3]}"


@dataclass
class FakeStash:
    url: str
    standin: StashStandIn
    executor: SchemaCheckingExecutor
    library: Library
    server: BackgroundServer | None  # None: reached in-process, without a socket

    def stop(self) -> None:
        """Stash goes away: nothing answers at its address any more."""
        if self.server is not None:
            self.server.stop()
        else:
            self.standin.unreachable = True  # type: ignore[attr-defined]


@pytest.fixture
def library() -> Library:
    return sample(STASH_ROOT)


@pytest.fixture
def s2p_instances() -> list:
    """The s2p instances a test started (shared by start_s2p and the fake Stash)."""
    return []


@pytest.fixture
def stash_apps() -> dict[str, StashStandIn]:
    """In-process fake Stashes by URL: start_s2p reaches them without a socket."""
    return {}


def _fake_stash(library, s2p_instances, *, live: bool, stash_apps: dict[str, StashStandIn]):
    executor = SchemaCheckingExecutor(library)
    if live:
        server, standin = start_standin(library, api_key=API_KEY, executor=executor)
        url = server.url
    else:
        server, standin = None, StashStandIn(library, api_key=API_KEY, executor=executor)
        url = library.base_url = STASH_URL
        stash_apps[url] = standin
    yield FakeStash(url, standin, executor, library, server)
    standin.heal()
    # s2p's background work (the scene index) may be mid-request: stop it
    # before the fake Stash goes away under it.
    for instance in s2p_instances:
        instance.services.stop()
    if server is not None:
        server.stop()
    assert not executor.invalid, f"s2p sent GraphQL documents that Stash's schema rejects: {executor.invalid}"


def _live(request: pytest.FixtureRequest) -> bool:
    """A test marked ``integration`` gets real servers on loopback; any other runs in-process."""
    return request.node.get_closest_marker("integration") is not None


@pytest.fixture
def fake_stash(request, library, s2p_instances, stash_apps):
    """The fake Stash: in-process (reached by s2p built by start_s2p), or on a
    loopback port for a test marked ``integration``."""
    yield from _fake_stash(library, s2p_instances, live=_live(request), stash_apps=stash_apps)


def _runtime(tmp_path, stash_apps, running, stash_url: str, overrides: dict[str, Any]):
    settings = make_settings(stash_url, tmp_path / f"state{len(running)}", **overrides)
    standin = stash_apps.get(stash_url)
    return settings, build(settings, session=stash_session(standin) if standin is not None else None)


@pytest.fixture
def start_s2p(request, tmp_path, s2p_instances, stash_apps):
    """Start s2p: start_s2p(stash_url, **overrides).  In-process, called
    through falcon.testing; under waitress on a free loopback port for a
    test marked ``integration``."""
    running: list = s2p_instances
    live = _live(request)
    stack = ExitStack()

    def start(stash_url: str, *, wait_for_index: bool = True, **overrides: Any):
        settings, runtime = _runtime(tmp_path, stash_apps, running, stash_url, overrides)
        app = create_app(runtime)
        instance: RunningS2P | InProcessS2P
        if live:
            server = BackgroundServer(create_server(app, settings, host="127.0.0.1", port=0))
            stack.enter_context(runtime.serving(server.server))
            server.start()
            instance = RunningS2P(server.url, settings, runtime, server)
        else:
            runtime.start()
            stack.callback(runtime.stop)
            instance = InProcessS2P(settings, runtime, falcon.testing.TestClient(app))
        if wait_for_index:
            # Started means ready: the first index load is over (or has failed
            # once) before a test counts what reaches Stash.
            runtime.ready(10)
        running.append(instance)
        return instance

    yield start
    for instance in running:
        if isinstance(instance, RunningS2P):
            instance.server.stop()
    stack.close()


@pytest.fixture
def s2p(start_s2p, fake_stash):
    return start_s2p(fake_stash.url)


@pytest.fixture(scope="session")
def pyz(tmp_path_factory):
    """s2p.pyz built once per session by build_zipapp.py, as a user builds it."""
    from pyzrun import build

    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def pyz_cache(tmp_path_factory):
    """A cache directory the archive unpacks into once and later runs reuse."""
    return tmp_path_factory.mktemp("pyz-cache")
