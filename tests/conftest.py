from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from s2p.config import Settings, build_path_map
from s2p.demo import start_standin
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn
from s2p.runtime import Services
from s2p.server import BackgroundServer, create_server
from s2p.web.app import create_app

from fakestash import SchemaCheckingExecutor

API_KEY = "stash-test-key-0123456789abcdef"
STASH_ROOT = "/stash/library"
PLEX_ROOT = "/plex/library"

PATH_RULES = [{
    "name": "library",
    "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
    "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"],
    "examples": [f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"],
}]


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


def make_settings(stash_url: str, state_dir, **overrides: Any) -> Settings:
    base = {
        "server": {"host": "127.0.0.1", "port": 8008, "threads": 8, "request_budget": 10},
        "stash": {"url": stash_url, "api_key": API_KEY, "timeout": 5, "slot_wait": 2},
        "paths": PATH_RULES,
        "state": {"dir": str(state_dir)},
    }
    settings = Settings.model_validate(deep_merge(base, overrides))
    assert not build_path_map(settings.paths).round_trip_problems()
    return settings


@dataclass
class RunningS2P:
    url: str
    settings: Settings
    services: Services
    server: BackgroundServer

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)

    def match(self, **hints) -> requests.Response:
        return self.post("/library/metadata/matches", json=hints)


@pytest.fixture
def start_s2p(tmp_path, s2p_instances):
    """Start s2p under waitress on a free loopback port: start_s2p(stash_url, **overrides)."""
    running: list[RunningS2P] = s2p_instances

    def start(stash_url: str, **overrides: Any) -> RunningS2P:
        settings = make_settings(stash_url, tmp_path / f"state{len(running)}", **overrides)
        services = Services(settings)
        app = create_app(services)
        server = BackgroundServer(create_server(app, settings, host="127.0.0.1", port=0, loop_timeout=0.1)).start()
        services.start()
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
