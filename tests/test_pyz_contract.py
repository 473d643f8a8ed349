"""The provider contract tests again, against s2p.pyz serving from the archive
in its own process (configured by S2P_* variables, as in the Docker image),
so what is shipped is what is tested.

A test that only talks HTTP to s2p shares one archive process (starting one
takes most of a second); a test that inspects or changes the fake Stash, or
needs other settings, gets its own Stash and its own archive process.
"""

from __future__ import annotations

import pytest

from helpers import API_KEY, STASH_ROOT, settings_data
from fakestash import SchemaCheckingExecutor
from pyzrun import PyzServer, settings_env
from s2p.demo import start_standin
from s2p.demo.library import sample
from provider_contract import *  # noqa: F401,F403  (collected here, with the fixtures below)

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def start_s2p(tmp_path, pyz, pyz_cache):
    running: list[PyzServer] = []

    def start(stash_url: str, **overrides) -> PyzServer:
        data = settings_data(stash_url, tmp_path / f"state{len(running)}", **overrides)
        server = PyzServer(pyz, settings_env(data), pyz_cache)
        running.append(server)
        return server.start()

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def shared_s2p(pyz, pyz_cache, tmp_path_factory):
    executor = SchemaCheckingExecutor(sample(STASH_ROOT))
    stash, _ = start_standin(executor.library, api_key=API_KEY, executor=executor)
    data = settings_data(stash.url, tmp_path_factory.mktemp("state"))
    server = PyzServer(pyz, settings_env(data), pyz_cache).start()
    yield server
    server.stop()
    stash.stop()
    assert not executor.invalid, f"s2p sent GraphQL documents that Stash's schema rejects: {executor.invalid}"


@pytest.fixture
def s2p(request, start_s2p, shared_s2p):
    if "fake_stash" in request.fixturenames:
        return start_s2p(request.getfixturevalue("fake_stash").url)
    return shared_s2p


def test_the_archive_serves_the_stash_plugin_with_its_files(shared_s2p):
    import hashlib
    import io
    import zipfile
    from pathlib import Path

    import yaml

    index = yaml.safe_load(shared_s2p.get("/stash-plugin/index.yml").text)[0]
    zipped = shared_s2p.get("/stash-plugin/" + index["path"]).content
    assert hashlib.sha256(zipped).hexdigest() == index["sha256"]
    plugin = Path(__file__).resolve().parent.parent / "s2p" / "stashplugin" / "plugin"
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        for name in ("s2p.js", "s2p.css", "s2p_bridge.py"):
            assert archive.read(name) == (plugin / name).read_bytes()
