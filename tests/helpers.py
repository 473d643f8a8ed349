"""What many test modules share: the test library's roots and keys, settings
builders, clients of a running s2p, and s2p run as a user runs it.

Fixtures live in ``conftest.py``; everything a test imports by name lives here.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import requests
from fakeplex import TOKEN as PLEX_TOKEN
from secretwatch import SecretWatch

from s2p.app.runtime import Runtime
from s2p.app.server import BackgroundServer
from s2p.config import Settings, build_path_map

API_KEY = "stash-test-key-0123456789abcdef"


STASH_ROOT = "/stash/library"


PLEX_ROOT = "/plex/library"


PATH_RULES = [{
    "name": "library",
    "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
    "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"],
    "examples": [f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"],
}]


# One handler sees every log record of the whole session at DEBUG (installed
# by conftest); a test after which a record carried a configured secret fails.
SECRET_WATCH = SecretWatch()
SECRET_WATCH.watch(API_KEY, PLEX_TOKEN)


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

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.get(self._url(path), **kwargs)

    def head(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.head(self._url(path), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.post(self._url(path), **kwargs)

    def match(self, **hints) -> requests.Response:
        return self.post("/library/metadata/matches", json=hints)


@dataclass
class RunningS2P(CallsS2P):
    url: str
    settings: Settings
    services: Runtime
    server: BackgroundServer

    def poster_path(self, scene_id: str = "1") -> str:
        """The signed poster path s2p hands Plex for a scene (built in-process,
        so it works where the caller may not read metadata)."""
        from s2p.artwork.links import RouteImageLinks
        from s2p.common.deadline import Deadline

        scene = self.services.scenes.get(scene_id, deadline=Deadline(10))
        return RouteImageLinks("", self.services.signer()).scene(scene, "poster") or ""



# ---------------------------------------------------------------- s2p as a user runs it


def run(*args, env=None, config=None, timeout=60):
    """s2p in its own process, from an empty folder: an s2p.toml of the developer's (in the checkout or
    ~/.config/s2p) is never the one a test without --config reads."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
    with tempfile.TemporaryDirectory(prefix="s2p-run-") as folder:
        environ["XDG_CONFIG_HOME"] = os.path.join(folder, "config")
        environ.update(env or {})
        command = [sys.executable, "-m", "s2p"] + (["--config", str(config)] if config else []) + list(args)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environ, cwd=folder)


def write_config(tmp_path, stash_url, extra=""):
    path = tmp_path / "s2p.toml"
    path.write_text(f'''
[stash]
url = "{stash_url}"
api_key = "{API_KEY}"
timeout = 3

[state]
dir = "{tmp_path / 'state'}"

[[paths]]
name = "library"
stash_to_plex = ["^{STASH_ROOT}/(.*)$", "{PLEX_ROOT}/\\\\1"]
plex_to_stash = ["^{PLEX_ROOT}/(.*)$", "{STASH_ROOT}/\\\\1"]
examples = ["{STASH_ROOT}/Harbour Films/extras/scene.mp4"]
{extra}''', encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:  # refused, or accepted but not served yet (start-up probes Stash)
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def serve_and_call(tmp_path, stash_url: str, calls, extra: str = "") -> tuple[int, str]:
    """``s2p serve`` in its own process, ``calls(base_url)`` while it runs,
    then a normal stop: its exit code and what it wrote to stderr."""
    port = free_port()
    config = write_config(tmp_path, stash_url, extra=f'\n[server]\nhost = "127.0.0.1"\nport = {port}\n{extra}')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
    process = subprocess.Popen([sys.executable, "-m", "s2p", "--config", str(config), "serve"], env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        calls(base)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    return process.returncode, err



# ---------------------------------------------------------------- matching


class MemorySource:
    """A ``SceneSource`` over a list of scenes, recording what was asked."""

    def __init__(self, scenes):
        self.scenes = {s.id: s for s in scenes}
        self.calls = []

    def describe(self):
        return "memory"

    def scene(self, scene_id, deadline):
        return self.scenes.get(scene_id)

    def with_basename(self, basename, deadline):
        self.calls.append(("basename", basename))
        return [s for s in self.scenes.values()
                if any(f.basename.casefold() == basename.casefold() for f in s.files)]

    def with_plex_path(self, plex_path, deadline):
        return []

    def with_fingerprint(self, kind, value, deadline):
        self.calls.append((kind, value))
        return [s for s in self.scenes.values() if any(f.fingerprint(kind) == value for f in s.files)]

    def search(self, text, deadline):
        self.calls.append(("search", text))
        words = text.lower().split()
        return [s for s in self.scenes.values() if s.title and all(w in s.title.lower() for w in words)]


def eventually(predicate, what: str, timeout: float = 15.0):
    """``predicate()``'s first true value, polled until ``timeout``; fails naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def plugin_plex(extra: dict[str, tuple[str, str, str]] | None = None):
    """A fake Plex, not started, with the sample library's first two scenes in
    library 1 (scene 1 matched by s2p, scene 2 by another agent) and ``extra``
    items (key: (title, file under Harbour Films, guid)); ``items_by_scene`` names them."""
    from fakeplex import FakePlex

    fake = FakePlex()
    fake.add_section(1, "Scenes", [PLEX_ROOT])
    hf = f"{PLEX_ROOT}/Harbour Films"
    items = {"1": ("Office Affair", "2023-05-12 - Jane Doe - Office Affair.mp4", s2p_guid("1")),
             "2": ("Don't Stop", "Don't Stop [Director's Cut] (2022).mkv", "local://77"), **(extra or {})}
    fake.items_by_scene = {key: fake.add_item(1, title, [f"{hf}/{name}"], guid=guid)
                           for key, (title, name, guid) in items.items()}
    return fake


def s2p_guid(scene_id: str, identifier: str = "tv.plex.agents.custom.s2p") -> str:
    """The guid Plex stores on an item s2p matched to a scene."""
    return f"{identifier}://movie/{scene_id}"


def in_process(stash_url: str, state_dir, **overrides: Any):
    """s2p's app in this process, for route tests (``falcon.testing``; no socket of
    s2p's own): returns the test client and the services (stop them after)."""
    from falcon import testing

    from s2p.app.runtime import build as build_services
    from s2p.app.webapp import create_app

    services = build_services(make_settings(stash_url, state_dir, **overrides))
    # falcon.testing names the host falconframework.org, which HostCheck refuses.
    return testing.TestClient(create_app(services), headers={"Host": "127.0.0.1"}), services
