"""The Stash plugin's bridge run exactly as Stash runs it: the zip s2p serves
unpacked into a plugin folder, then ``python s2p_bridge.py`` with JSON on
standard input (``server_connection`` and ``args``), against s2p under
waitress with the fake Stash and the fake Plex.  The interpreter runs with
``-I -S``: no site-packages, the standard library only, as in Stash's image.
A small stand-in for Stash's own GraphQL answers the bridge's question for
the plugin's settings (and checks it against Stash's schema)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from fakeplex import TOKEN
from fakestash import validation_errors
from helpers import PLEX_ROOT, SECRET_WATCH, STASH_ROOT, eventually, free_port, plugin_plex

pytestmark = pytest.mark.integration


@pytest.fixture
def plex():
    fake = plugin_plex()
    fake.start()
    yield fake
    fake.stop()


class StashSettings:
    """Stash's /graphql, as far as the bridge asks it: the plugin's settings."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append({"body": body, "cookie": self.headers.get("Cookie")})
                problems = validation_errors(body["query"])
                data = json.dumps({"errors": [{"message": str(problems)}]} if any(problems.values()) else
                                  {"data": {"configuration": {"plugins": {"s2p": outer.settings}}}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stash_settings():
    stand_in = StashSettings()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def running(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                    sync={"interval": 3600}, gaps={"interval": 3600}, artwork={"push": False})
    SECRET_WATCH.watch(s2p.services.stash_plugin.token.value)
    return s2p


class Plugin:
    """The plugin as Stash installed it: the zip from s2p's index, unpacked."""

    def __init__(self, folder, stash: StashSettings):
        self.folder = folder
        self.stash = stash
        self.runs: list[tuple[str, str]] = []

    @property
    def connection(self) -> dict[str, str]:
        return json.loads((self.folder / "s2p_connection.json").read_text())

    def run(self, args: dict[str, Any] | None, *, raw: str | None = None) -> dict[str, Any]:
        payload = raw if raw is not None else json.dumps({
            "server_connection": {"Scheme": "http", "Host": "0.0.0.0", "Port": self.stash.port,
                                  "SessionCookie": {"Name": "session", "Value": "cookie-value"},
                                  "Dir": str(self.folder.parent), "PluginDir": str(self.folder)},
            "args": args})
        done = subprocess.run([sys.executable, "-I", "-S", str(self.folder / "s2p_bridge.py")], input=payload,
                              capture_output=True, text=True, timeout=60, cwd=self.folder.parent)
        assert done.returncode == 0, done.stderr
        self.runs.append((done.stdout, done.stderr))
        answer = json.loads(done.stdout)  # one JSON object, never a traceback
        assert set(answer) in ({"output"}, {"error"}), answer
        assert "Traceback" not in done.stderr
        return answer


@pytest.fixture
def plugin(running, stash_settings, tmp_path):
    index = requests.get(running.url + "/stash-plugin/index.yml", timeout=10)
    assert index.status_code == 200
    zipped = requests.get(running.url + "/stash-plugin/s2p.zip", timeout=10)
    folder = tmp_path / "plugins" / "s2p"
    folder.mkdir(parents=True)
    zipfile.ZipFile(io.BytesIO(zipped.content)).extractall(folder)
    installed = Plugin(folder, stash_settings)
    yield installed
    token = running.services.stash_plugin.token.value
    for stdout, stderr in installed.runs:
        assert token not in stdout and token not in stderr


def output(answer: dict[str, Any]) -> Any:
    assert "error" not in answer, answer["error"]
    return answer["output"]


def test_a_scene_in_plex_reads_its_items_fetch_time_and_queue(running, plugin, plex):
    assert running.get("/library/metadata/1").status_code == 200  # Plex fetches the scene's metadata
    running.services.gaps.store.flush()
    status = output(plugin.run({"op": "scene", "id": "1"}))
    item = plex.items_by_scene["1"]
    assert [i["rating_key"] for i in status["items"]] == [str(item.rating_key)]
    shown = status["items"][0]
    assert shown["section"] == "Scenes"
    assert shown["url"] == (f"https://app.plex.tv/desktop/#!/server/{plex.machine_identifier}/details"
                            f"?key=/library/metadata/{item.rating_key}")
    assert status["fetched_at"] is not None
    assert status["changed_since"] is False
    assert status["sync"] == {"enabled": True, "queued": None}
    assert status["missing"] is None
    # The bridge asked Stash for the plugin's settings, with Stash's session cookie.
    assert plugin.stash.seen and plugin.stash.seen[-1]["cookie"] == "session=cookie-value"


def test_a_scene_plex_lacks_says_why_with_the_match_explanation(running, plugin, fake_stash):
    fake_stash.library.add_scene("9", title="Fresh", files=[f"{STASH_ROOT}/Harbour Films/Fresh/new scene.mp4"])
    status = output(plugin.run({"op": "scene", "id": "9"}))
    assert status["items"] == []
    assert status["fetched_at"] is None
    missing = status["missing"]
    assert missing["files"][0]["plex"] == f"{PLEX_ROOT}/Harbour Films/Fresh/new scene.mp4"
    assert missing["files"][0]["library"] == "Scenes"
    assert "matches this file to this scene" in missing["why"]
    assert missing["files"][0]["explanation"]["decision"]["scene"] == "9"
    explained = output(plugin.run({"op": "explain", "id": "9"}))
    assert explained["files"][0]["explanation"]["decision"]["scene"] == "9"
    assert "no such scene" not in json.dumps(explained)
    gone = plugin.run({"op": "scene", "id": "999"})
    assert gone["error"] == "s2p: Stash has no scene 999"


def test_refresh_goes_through_the_sync_queue_at_its_head(running, plugin, plex):
    item = plex.items_by_scene["1"]
    answer = output(plugin.run({"op": "refresh", "id": "1"}))
    assert answer["queued"] == "first"
    eventually(lambda: item.rating_key in plex.refreshed, "Plex asked to refresh the scene's item")
    # The entry waits for Plex to fetch the refreshed metadata, as Plex does after a refresh.
    assert running.services.sync.store.entry("1")["waiting_for_plex"]
    assert running.get("/library/metadata/1").status_code == 200
    eventually(lambda: running.services.sync.store.pending() == 0, "the queue emptied")


def test_scan_asks_plex_to_scan_the_scenes_folder(running, plugin, plex, fake_stash):
    fake_stash.library.add_scene("9", title="Fresh", files=[f"{STASH_ROOT}/Harbour Films/Fresh/new scene.mp4"])
    answer = output(plugin.run({"op": "scan", "id": "9"}))
    assert answer["folders"] == 1
    assert plex.scans == [(1, f"{PLEX_ROOT}/Harbour Films/Fresh")]


def test_gaps_dismiss_and_restore_are_those_of_the_gaps_page(running, plugin):
    running.services.gaps.compare()
    page = running.get("/gaps.json").json()
    assert page["total"] > 0
    report = output(plugin.run({"op": "gaps", "limit": 1000}))
    assert [g["id"] for g in report["gaps"]] == [g["id"] for g in page["gaps"]]
    assert report["counts"] == page["counts"]
    assert report["plex"]["machine_identifier"] == "fake-pms-0001"
    paged = output(plugin.run({"op": "gaps", "offset": 1, "limit": 1}))
    assert [g["id"] for g in paged["gaps"]] == [g["id"] for g in page["gaps"][1:2]]
    first = page["gaps"][0]["id"]
    dismissed = output(plugin.run({"op": "dismiss", "id": str(first)}))
    assert dismissed["dismissed_at"] is not None
    assert first not in [g["id"] for g in running.get("/gaps.json").json()["gaps"]]
    output(plugin.run({"op": "restore", "id": first}))
    assert first in [g["id"] for g in running.get("/gaps.json").json()["gaps"]]
    assert plugin.run({"op": "dismiss", "id": "99999"})["error"] == "s2p: there is no gap record 99999"
    assert "is not one of" in plugin.run({"op": "gaps", "kind": "nope"})["error"]


def test_compare_and_ping_as_the_plugin_tasks_run_them(running, plugin):
    assert output(plugin.run({"op": "compare"}))["status"] == "started"
    assert "comparison of Plex and Stash is under way" in plugin.runs[-1][1]  # a line in Stash's log
    pong = output(plugin.run({"op": "ping"}))
    assert pong["plex_configured"] is True and pong["live_sync"] is True
    assert "\x01i\x02s2p" in plugin.runs[-1][1]


def test_the_hook_refreshes_an_edited_scene_only_when_asked(running, plugin, plex):
    edit = {"op": "changed", "hookContext": {"id": 1, "type": "Scene.Update.Post", "input": {"id": "1"}}}
    assert output(plugin.run(edit)) == {"skipped": "\"Refresh Plex as soon as a scene is edited\" is off"}
    plugin.stash.settings = {"notifyEdits": True}
    scanning = {"op": "changed", "hookContext": {"id": 1, "type": "Scene.Update.Post", "input": None}}
    assert "scanning" in output(plugin.run(scanning))["skipped"]
    assert output(plugin.run(edit))["queued"] == "first"
    eventually(lambda: plex.items_by_scene["1"].rating_key in plex.refreshed, "the edited scene refreshed")


def test_when_s2p_is_down_or_refuses_the_answer_says_so_in_one_line(running, plugin):
    dead = f"http://127.0.0.1:{free_port()}"
    connection = plugin.connection
    (plugin.folder / "s2p_connection.json").write_text(json.dumps({**connection, "url": dead}))
    down = plugin.run({"op": "scene", "id": "1"})["error"]
    assert down.startswith(f"s2p cannot be reached at {dead}: ") and "Fix:" in down and "\n" not in down
    # The "s2p URL" setting overrides the zip's address.
    plugin.stash.settings = {"s2pUrl": running.url + "/"}
    assert output(plugin.run({"op": "ping"}))["s2p"]
    plugin.stash.settings = {}
    (plugin.folder / "s2p_connection.json").write_text(json.dumps({**connection, "token": "a" * 43}))
    refused = plugin.run({"op": "ping"})["error"]
    assert refused.startswith("s2p refused the plugin's token. Fix:")
    (plugin.folder / "s2p_connection.json").write_text(json.dumps(connection))
    assert plugin.run({"op": "nope"})["error"].startswith("unknown operation 'nope'")
    assert plugin.run({"op": "scene"})["error"] == "the 'scene' operation needs a numeric 'id' argument"
    assert plugin.run(None, raw="{not json")["error"] == "the plugin's input is not JSON"
    (plugin.folder / "s2p_connection.json").unlink()
    assert "reinstall the s2p plugin" in plugin.run({"op": "ping"})["error"]


def test_the_bridge_never_reaches_stash_without_its_settings_failing_soft(running, plugin):
    plugin.stash.stop()  # Stash's GraphQL gone: the zip's address stands
    assert output(plugin.run({"op": "ping"}))["s2p"]
