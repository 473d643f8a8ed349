"""Building s2p.pyz and running it as a user does: a separate python3 process
started on the archive, configured by S2P_* environment variables."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from helpers import CallsS2P

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "build_zipapp.py"


def load_script(name: str, path: Path):
    """Import a file that is not in a package (the build script, the bootstrap)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def builder():
    return load_script("build_zipapp", BUILD_SCRIPT)


def bootstrap():
    return load_script("s2p_bootstrap", REPO / "bundle" / "bootstrap.py")


def build(dist: Path, *args: str, env: dict[str, str] | None = None, umask: int | None = None) -> Path:
    """Run build_zipapp.py into ``dist`` and return the one archive it wrote."""
    before = set(dist.glob("*.pyz"))
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--dist", str(dist), *args],
                            capture_output=True, text=True, env=env or clean_env(), timeout=600,
                            preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    assert result.returncode == 0, result.stdout + result.stderr
    made = sorted(set(dist.glob("*.pyz")) - before) or sorted(dist.glob("*.pyz"))
    assert len(made) == 1, made
    return made[0]


def clean_env(**extra: str) -> dict[str, str]:
    """The test runner's environment without any S2P_* or cache variables."""
    drop = ("S2P_", "CACHE_DIRECTORY", "SOURCE_DATE_EPOCH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def run(pyz: Path, *args: str, cache: Path | None, env: dict[str, str] | None = None,
        python: str = sys.executable, timeout: float = 120) -> subprocess.CompletedProcess:
    environ = clean_env(**(env or {}))
    if cache is not None:
        environ["S2P_CACHE_DIR"] = str(cache)
    return subprocess.run([python, "-I", str(pyz), *args], capture_output=True, text=True, env=environ,
                          timeout=timeout)


def settings_env(data: dict[str, Any]) -> dict[str, str]:
    """Settings as S2P_<SECTION>_<KEY> variables (how the Docker image is configured)."""
    env = {}
    for section, values in data.items():
        if section == "paths":
            env["S2P_PATHS"] = json.dumps(values)
            continue
        for key, value in values.items():
            name = f"S2P_{section}_{key}".upper()
            if isinstance(value, (list, dict)):
                env[name] = json.dumps(value)
            elif isinstance(value, bool):
                env[name] = "true" if value else "false"
            else:
                env[name] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PyzServer(CallsS2P):
    """``python3 -I s2p.pyz serve`` in a subprocess, on a free loopback port."""

    def __init__(self, pyz: Path | None, env: dict[str, str], cache: Path | None, *,
                 args: tuple[str, ...] = ("serve",), python: str = sys.executable,
                 command: list[str] | None = None, host: str = "127.0.0.1"):
        self.port = free_port()
        self.env = clean_env(**env)
        self.env.update({"S2P_SERVER_HOST": host, "S2P_SERVER_PORT": str(self.port)})
        if cache is not None:
            self.env["S2P_CACHE_DIR"] = str(cache)
        self.command = command or [python, "-I", str(pyz), *args]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.stderr = ""

    def start(self) -> "PyzServer":
        return self.launch().wait_ready()

    def launch(self) -> "PyzServer":
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        return self

    def wait_ready(self, ready_path: str = "/healthz", timeout: float = 60) -> "PyzServer":
        assert self.process is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                raise AssertionError(f"s2p.pyz exited with {self.process.returncode} before serving:\n{out}{err}")
            try:
                requests.get(self.url + ready_path, timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop(check=False)
        raise AssertionError(f"s2p.pyz did not answer within {timeout} s:\n{self.stderr}")

    def stop(self, check: bool = True) -> str:
        """SIGTERM, as systemd and docker stop send; returns what it logged."""
        if self.process is None:
            return self.stderr
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            # Generous: on a loaded machine a stop can take seconds; a hang still fails.
            _, self.stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, self.stderr = self.process.communicate()
            raise AssertionError(
                f"s2p.pyz did not stop within 60 s of SIGTERM; it logged:\n{self.stderr[-3000:]}") from None
        if check:
            assert self.process.returncode == 0, self.stderr
            assert "Traceback" not in self.stderr, self.stderr
        return self.stderr

