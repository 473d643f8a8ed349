"""The Stash plugin's source and routes, in-process: the index and the
deterministic zip, the token, who may call, and the plugin's files as
Stash reads them (its manifest keys, its GraphQL documents)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from fakestash import validation_errors
from falcon import testing
from helpers import SECRET_WATCH, make_settings

from s2p import __version__
from s2p.app.runtime import build as build_services
from s2p.app.webapp import create_app
from s2p.stashplugin.package import CONNECTION_FILE, FILES, Stamps, build_zip, plugin_files
from s2p.stashplugin.token import FILE_NAME as TOKEN_FILE

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "s2p" / "stashplugin" / "plugin"
HOST = "192.168.1.5:8008"
SECRET = "plugin-secret-root-0123456789"

# The keys Stash's plugin Config reads (pkg/plugin/config.go); it parses strictly.
MANIFEST_KEYS = {"name", "description", "url", "version", "interface", "exec", "errLog", "tasks", "hooks", "ui",
                 "settings"}
UI_KEYS = {"requires", "csp", "javascript", "css", "assets"}
OPERATION_KEYS = {"name", "description", "execArgs", "defaultArgs"}
SETTING_TYPES = {"STRING", "NUMBER", "BOOLEAN"}


@pytest.fixture
def services(tmp_path):
    def make(**overrides):
        settings = make_settings("http://127.0.0.1:9", tmp_path / "state", index={"enabled": False}, **overrides)
        made = build_services(settings)
        built.append(made)
        return made

    built: list = []
    yield make
    for made in built:
        made.stop()


@pytest.fixture
def client(services):
    made = services()
    SECRET_WATCH.watch(made.stash_plugin.token.value)
    return testing.TestClient(create_app(made)), made


def get(client, path, host=HOST, **kwargs):
    headers = {"Host": host, **kwargs.pop("headers", {})}
    return client.simulate_get(path, headers=headers, **kwargs)


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


# ---------------------------------------------------------------- the zip and the index


def test_the_zip_is_the_same_bytes_for_the_same_content():
    files = plugin_files(__version__)
    first = build_zip({**files, "b.txt": b"b", "a.txt": b"a"})
    again = build_zip({"a.txt": b"a", **files, "b.txt": b"b"})
    assert first == again
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o644}
    assert build_zip({**files, "a.txt": b"A"}) != first


def test_the_index_names_the_zip_by_its_sha256_and_the_zip_carries_address_and_token(client):
    client, services = client
    index = get(client, "/stash-plugin/index.yml")
    assert index.status_code == 200
    packages = yaml.safe_load(index.text)
    assert len(packages) == 1
    package = packages[0]
    assert set(package) == {"id", "name", "metadata", "version", "date", "path", "sha256"}
    assert package["id"] == "s2p" and package["version"] == __version__
    assert package["metadata"]["description"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", package["date"])
    assert index.headers["Last-Modified"]
    zipped = get(client, "/stash-plugin/" + package["path"])
    assert zipped.status_code == 200
    assert hashlib.sha256(zipped.content).hexdigest() == package["sha256"]
    assert zipped.headers["Cache-Control"] == "no-store"
    files = entries(zipped.content)
    assert sorted(files) == sorted([*FILES, CONNECTION_FILE])
    assert b"@VERSION@" not in files["s2p.yml"]  # the id Stash takes is the manifest's name: s2p
    connection = json.loads(files[CONNECTION_FILE])
    assert connection == {"url": f"http://{HOST}", "token": services.stash_plugin.token.value}
    # The same address again: the same bytes, the same date.
    assert get(client, "/stash-plugin/s2p.zip").content == zipped.content
    assert yaml.safe_load(get(client, "/stash-plugin/index.yml").text) == packages


def test_head_answers_with_last_modified_and_no_body(client):
    client, _services = client
    got = get(client, "/stash-plugin/index.yml")
    head = client.simulate_head("/stash-plugin/index.yml", headers={"Host": HOST})
    assert head.status_code == 200
    assert head.headers["Last-Modified"] == got.headers["Last-Modified"]
    assert head.content == b""


def test_another_address_or_a_new_token_gives_another_zip_and_a_later_date(client, tmp_path):
    client, services = client
    first = yaml.safe_load(get(client, "/stash-plugin/index.yml").text)[0]
    other = yaml.safe_load(get(client, "/stash-plugin/index.yml", host="s2p:8008").text)[0]
    assert other["sha256"] != first["sha256"]
    assert json.loads(entries(get(client, "/stash-plugin/s2p.zip", host="s2p:8008").content)[CONNECTION_FILE])[
        "url"] == "http://s2p:8008"
    # A new token (the file deleted, s2p restarted): a new zip, dated after the old one.
    (tmp_path / "state" / TOKEN_FILE).unlink()
    services.stash_plugin.token._value = None
    renewed = yaml.safe_load(get(client, "/stash-plugin/index.yml").text)[0]
    assert renewed["sha256"] != first["sha256"]
    assert renewed["date"] > first["date"]


def test_a_changed_zip_is_always_dated_after_the_one_it_replaces(tmp_path):
    now = [1_000_000.0]
    stamps = Stamps(tmp_path, clock=lambda: now[0])
    first = stamps.date_of("a", "sha-1")
    assert stamps.date_of("a", "sha-1") == first  # unchanged content, unchanged date
    assert stamps.date_of("a", "sha-2") > first  # within the same second, still later
    now[0] += 100
    assert Stamps(tmp_path, clock=lambda: now[0]).date_of("a", "sha-2") == first + 1  # kept across restarts


def test_the_token_is_kept_in_the_state_directory(services, tmp_path):
    first = services().stash_plugin.token.value
    assert services().stash_plugin.token.value == first  # a restart keeps it
    path = tmp_path / "state" / TOKEN_FILE
    assert path.stat().st_mode & 0o077 == 0
    path.unlink()
    assert services().stash_plugin.token.value != first


# ---------------------------------------------------------------- who may call


def test_api_routes_want_the_token_in_a_header(client):
    client, services = client
    token = services.stash_plugin.token.value
    assert get(client, "/stash-plugin/api/ping").status_code == 401
    assert get(client, "/stash-plugin/api/ping", headers={"X-S2P-Token": "x" * 43}).status_code == 401
    assert get(client, "/stash-plugin/api/ping", params={"token": token}).status_code == 401  # never a query value
    refused = get(client, "/stash-plugin/api/gaps", params={"X-S2P-Token": token})
    assert refused.status_code == 401 and "reinstall" in refused.json["detail"]
    answer = get(client, "/stash-plugin/api/ping", headers={"X-S2P-Token": token})
    assert answer.status_code == 200
    assert answer.json["s2p"] == __version__ and answer.json["plex_configured"] is False
    assert token not in answer.text


def test_bad_input_gets_a_4xx_with_json(client):
    client, services = client
    token = {"X-S2P-Token": services.stash_plugin.token.value}
    for path, status in (("/stash-plugin/api/scenes/abc", 400), ("/stash-plugin/api/scenes/1/nonsense", 404),
                         ("/stash-plugin/api/gaps?limit=0", 400), ("/stash-plugin/api/gaps?kind=nope", 400)):
        answer = get(client, path, headers=token)
        assert answer.status_code == status, path
        assert answer.json["error"]
    # Live sync is off here (no Plex): refreshing says what to set.
    answer = client.simulate_post("/stash-plugin/api/scenes/1/refresh", headers={"Host": HOST, **token})
    assert answer.status_code == 409 and "[plex] url and token" in answer.json["detail"]
    bad_host = get(client, "/stash-plugin/index.yml", host="a b")
    assert bad_host.status_code in (400, 421) and bad_host.json["error"]


def test_plugin_routes_are_open_to_allow_and_ops_allow_only(services):
    made = services(server={"allow": ["10.0.0.0/8"], "ops_allow": ["192.168.0.0/16"]})
    client = testing.TestClient(create_app(made))
    for address, status in (("10.1.2.3", 200), ("192.168.1.9", 200), ("172.16.0.1", 403)):
        answer = client.simulate_get("/stash-plugin/index.yml", headers={"Host": HOST}, remote_addr=address)
        assert answer.status_code == status, address
    assert client.simulate_get("/healthz", headers={"Host": HOST}, remote_addr="10.1.2.3").status_code == 403


def test_under_a_secret_root_the_plugin_lives_there(services):
    made = services(server={"secret": SECRET})
    SECRET_WATCH.watch(SECRET)
    client = testing.TestClient(create_app(made))
    assert get(client, "/stash-plugin/index.yml").status_code == 404
    index = get(client, f"/{SECRET}/stash-plugin/index.yml")
    assert index.status_code == 200
    zipped = get(client, f"/{SECRET}/stash-plugin/s2p.zip")
    assert json.loads(entries(zipped.content)[CONNECTION_FILE])["url"] == f"http://{HOST}/{SECRET}"
    token = {"X-S2P-Token": made.stash_plugin.token.value}
    assert get(client, f"/{SECRET}/stash-plugin/api/ping", headers=token).status_code == 200


# ---------------------------------------------------------------- the plugin's files as Stash reads them


def test_the_manifest_holds_only_what_stash_reads():
    manifest = yaml.safe_load(plugin_files("9.9.9")["s2p.yml"])
    assert set(manifest) <= MANIFEST_KEYS
    assert manifest["version"] == "9.9.9"
    assert manifest["interface"] == "raw"
    assert manifest["exec"] == ["python", "{pluginDir}/s2p_bridge.py"]
    assert set(manifest["ui"]) <= UI_KEYS
    assert manifest["ui"]["javascript"] == ["s2p.js"] and manifest["ui"]["css"] == ["s2p.css"]
    for setting in manifest["settings"].values():
        assert setting["type"] in SETTING_TYPES
    bridge_ops = re.search(r"^OPS = \((.*?)\)$", (PLUGIN_DIR / "s2p_bridge.py").read_text(), re.M).group(1)
    for task in manifest["tasks"] + manifest["hooks"]:
        assert set(task) - {"triggeredBy"} <= OPERATION_KEYS
        assert f'"{task["defaultArgs"]["op"]}"' in bridge_ops
    assert manifest["hooks"][0]["triggeredBy"] == ["Scene.Update.Post"]
    assert {t["name"] for t in manifest["tasks"]} == {"Compare Plex and Stash now", "Check the connection to s2p"}


def plugin_documents() -> dict[str, str]:
    script = (PLUGIN_DIR / "s2p.js").read_text(encoding="utf-8")
    found = {}
    for name in ("RUN_OPERATION", "SCAN_IN_STASH"):
        body = re.search(rf"var {name} =\s*(.*?);\n", script, re.S).group(1)
        found[name] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
    bridge = (PLUGIN_DIR / "s2p_bridge.py").read_text(encoding="utf-8")
    found["SETTINGS_QUERY"] = re.search(r'^SETTINGS_QUERY = "(.*)"$', bridge, re.M).group(1)
    return found


@pytest.mark.parametrize("name", ["RUN_OPERATION", "SCAN_IN_STASH", "SETTINGS_QUERY"])
def test_the_plugin_graphql_documents_are_valid(name):
    document = plugin_documents()[name]
    assert document.startswith(("query S2P", "mutation S2P"))
    problems = validation_errors(document)
    assert problems["subset"] == []
    if "upstream" in problems:
        assert problems["upstream"] == []
