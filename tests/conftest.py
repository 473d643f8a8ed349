from __future__ import annotations

import copy
import time
import logging
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from s2p.collectors import watch_http_server
from s2p.config import Settings, build_path_map
from s2p.demo import start_standin
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn
from s2p.runtime import Services
from s2p.server import BackgroundServer, create_server
from s2p.web.app import create_app

from fakeplex import TOKEN as PLEX_TOKEN
from fakestash import SchemaCheckingExecutor
from secretwatch import SecretWatch

API_KEY = "stash-test-key-0123456789abcdef"
STASH_ROOT = "/stash/library"
PLEX_ROOT = "/plex/library"

PATH_RULES = [{
    "name": "library",
    "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
    "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"],
    "examples": [f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"],
}]


# ---------------------------------------------------------------- secrets in logs

# One handler sees every log record of the whole session at DEBUG; a test
# after which a record carried a configured secret fails.
SECRET_WATCH = SecretWatch()
SECRET_WATCH.watch(API_KEY, PLEX_TOKEN)


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


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def settings_data(stash_url: str, state_dir, **overrides: Any) -> dict[str, Any]:
    base = {
        "server": {"host": "127.0.0.1", "port": 8008, "threads": 8, "request_budget": 10},
        "stash": {"url": stash_url, "api_key": API_KEY, "timeout": 5, "slot_wait": 2},
        "paths": PATH_RULES,
        "state": {"dir": str(state_dir)},
    }
    return deep_merge(base, overrides)


def make_settings(stash_url: str, state_dir, **overrides: Any) -> Settings:
    settings = Settings.model_validate(settings_data(stash_url, state_dir, **overrides))
    SECRET_WATCH.watch(*settings.secrets())
    assert not build_path_map(settings.paths).round_trip_problems()
    return settings


class FakeClock:
    """A clock the test moves by hand: ``clock.now += 30``."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class CallsS2P:
    """Requests to an s2p at ``self.url``: the same for the in-process
    server and for ``s2p.pyz`` in its own process."""

    url: str

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)

    def match(self, **hints) -> requests.Response:
        return self.post("/library/metadata/matches", json=hints)


@dataclass
class RunningS2P(CallsS2P):
    url: str
    settings: Settings
    services: Services
    server: BackgroundServer

    def poster_path(self, scene_id: str = "1") -> str:
        """The signed poster path s2p hands Plex for a scene (built in-process,
        so it works where the caller may not read metadata)."""
        from s2p.artwork.links import RouteImageLinks
        from s2p.deadline import Deadline

        scene = self.services.scenes.get(scene_id, deadline=Deadline(10))
        return RouteImageLinks("", self.services.signer).scene(scene, "poster")


@pytest.fixture
def start_s2p(tmp_path, s2p_instances):
    """Start s2p under waitress on a free loopback port: start_s2p(stash_url, **overrides)."""
    running: list[RunningS2P] = s2p_instances

    def start(stash_url: str, *, wait_for_index: bool = True, **overrides: Any) -> RunningS2P:
        settings = make_settings(stash_url, tmp_path / f"state{len(running)}", **overrides)
        services = Services(settings)
        app = create_app(services)
        server = BackgroundServer(create_server(app, settings, host="127.0.0.1", port=0, loop_timeout=0.1)).start()
        watch_http_server(services, server.server)
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
