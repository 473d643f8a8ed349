"""Fixtures: a fake Stash, s2p under waitress on loopback, the archive.
Names tests import (keys, roots, settings builders, clients) live in ``helpers``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest

from s2p.app.collectors import watch_http_server
from s2p.app.server import BackgroundServer, create_server
from s2p.app.services import build_services
from s2p.app.webapp import create_app
from s2p.demo import start_standin
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn

from fakestash import SchemaCheckingExecutor
from helpers import API_KEY, SECRET_WATCH, STASH_ROOT, RunningS2P, make_settings


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
    server: BackgroundServer


@pytest.fixture
def library() -> Library:
    return sample(STASH_ROOT)


@pytest.fixture
def s2p_instances() -> list:
    """The s2p instances a test started (shared by start_s2p and fake_stash)."""
    return []


@pytest.fixture
def fake_stash(library, s2p_instances):
    executor = SchemaCheckingExecutor(library)
    server, standin = start_standin(library, api_key=API_KEY, executor=executor)
    stash = FakeStash(server.url, standin, executor, library, server)
    yield stash
    standin.heal()
    # s2p's background work (the scene index) may be mid-request: stop it
    # before the fake Stash goes away under it.
    for instance in s2p_instances:
        instance.services.stop()
    server.stop()
    assert not executor.invalid, f"s2p sent GraphQL documents that Stash's schema rejects: {executor.invalid}"














@pytest.fixture
def start_s2p(tmp_path, s2p_instances):
    """Start s2p under waitress on a free loopback port: start_s2p(stash_url, **overrides)."""
    running: list[RunningS2P] = s2p_instances

    def start(stash_url: str, *, wait_for_index: bool = True, **overrides: Any) -> RunningS2P:
        settings = make_settings(stash_url, tmp_path / f"state{len(running)}", **overrides)
        services = build_services(settings)
        app = create_app(services)
        server = BackgroundServer(create_server(app, settings, host="127.0.0.1", port=0)).start()
        watch_http_server(services.metrics, services.health_checks, server.server)
        services.start()
        if services.index is not None and wait_for_index:
            # Started means ready: the first index load (a few Stash queries)
            # is over, or has failed once, before a test counts what reaches Stash.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                stats = services.index.stats()
                if stats["ready"] or stats["last_error"]:
                    break
                time.sleep(0.01)
        instance = RunningS2P(server.url, settings, services, server)
        running.append(instance)
        return instance

    yield start
    for instance in running:
        instance.server.stop()
        instance.services.stop()


@pytest.fixture
def s2p(start_s2p, fake_stash) -> RunningS2P:
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
