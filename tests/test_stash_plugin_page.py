"""The Stash plugin's JavaScript in headless Chromium.

The page (tests/stashplugin_page/) loads React, React-Bootstrap and React
Router from npm at the versions Stash's UI is built on, a stand-in for
Stash's ``PluginApi`` and ``fetch``, then the plugin's own s2p.js and
s2p.css as Stash would.  Its answers are real: taken from s2p running with
the fake Stash and the fake Plex.  A scripted person opens the Plex tab and
presses the buttons; the test reads what the page showed and every GraphQL
call it made to Stash.  Screenshots land in ``S2P_SCREENSHOTS`` (else the
test's temporary folder) to be looked at.

Needs Chromium (Debian: ``apt-get install chromium-headless-shell``) and
npm; without either the tests skip and say so.  The npm packages install
from tests/stashplugin_page/package-lock.json on first use.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from fakeplex import TOKEN
from helpers import PLEX_ROOT, SECRET_WATCH, STASH_ROOT, free_port, plugin_plex

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "tests" / "stashplugin_page"
PLUGIN = ROOT / "s2p" / "stashplugin" / "plugin"
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
UMD = ("react/umd/react.development.js", "react-dom/umd/react-dom.development.js",
       "react-router-dom/umd/react-router-dom.js", "react-bootstrap/dist/react-bootstrap.js")


@pytest.fixture(scope="session")
def browser() -> str:
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found is None:
        pytest.skip("no Chromium: apt-get install chromium-headless-shell (Debian) to run the plugin's page tests")
    return found


@pytest.fixture(scope="session")
def node_modules(browser) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("no node/npm: install Node.js (Debian: apt-get install nodejs npm) to run the plugin's page tests")
    lock = (PAGE / "package-lock.json").read_bytes()
    stamp = PAGE / "node_modules" / ".s2p-lock-sha256"
    wanted = hashlib.sha256(lock).hexdigest()
    lock_file = Path(tempfile.gettempdir()) / f"s2p-npm-{hashlib.sha256(str(PAGE).encode()).hexdigest()[:12]}.lock"
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # two test runs on one checkout install once
        if not (stamp.exists() and stamp.read_text() == wanted):
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                                  cwd=PAGE, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"npm ci in {PAGE} failed:\n{done.stdout}\n{done.stderr}"
            stamp.write_text(wanted)
    return PAGE / "node_modules"


@pytest.fixture
def plex():
    fake = plugin_plex({"new": ("clip_0457", "Unsorted/clip_0457.mp4", "local://88")})
    fake.start()
    yield fake
    fake.stop()


def bridge_error_when_down(s2p, folder: Path) -> str:
    """What the real bridge says when s2p is not there."""
    zipped = requests.get(s2p.url + "/stash-plugin/s2p.zip", timeout=10).content
    zipfile.ZipFile(io.BytesIO(zipped)).extractall(folder)
    connection = json.loads((folder / "s2p_connection.json").read_text())
    (folder / "s2p_connection.json").write_text(json.dumps({**connection, "url": f"http://127.0.0.1:{free_port()}"}))
    done = subprocess.run([sys.executable, "-I", "-S", str(folder / "s2p_bridge.py")],
                          input=json.dumps({"server_connection": {"Host": "127.0.0.1", "Port": free_port()},
                                            "args": {"op": "scene", "id": "1"}}),
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)["error"]


@pytest.fixture
def answers(start_s2p, fake_stash, plex, tmp_path) -> dict[str, Any]:
    """s2p's own answers to each operation the page asks, as the bridge hands them over."""
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                    sync={"interval": 3600}, gaps={"interval": 3600}, artwork={"push": False})
    token = s2p.services.stash_plugin.token.value
    SECRET_WATCH.watch(token)
    fake_stash.library.add_scene("9", title="Fresh", files=[f"{STASH_ROOT}/Harbour Films/Fresh/new scene.mp4"])
    assert s2p.get("/library/metadata/1").status_code == 200
    s2p.services.gaps.compare()
    s2p.services.gaps.store.flush()

    def api(method: str, path: str, **params: Any) -> Any:
        answer = requests.request(method, f"{s2p.url}/stash-plugin/api/{path}", params=params,
                                  headers={"X-S2P-Token": token}, timeout=30)
        assert answer.status_code in (200, 202), answer.text
        return answer.json()

    found = {
        "scene:1": api("GET", "scenes/1"), "scene:9": api("GET", "scenes/9"),
        "explain:1": api("GET", "scenes/1/explain"), "explain:9": api("GET", "scenes/9/explain"),
        "gaps": api("GET", "gaps", kind="plex_only", limit=50),
        "ping": api("GET", "ping"),
    }
    gap_id = found["gaps"]["gaps"][0]["id"]
    found.update({
        "refresh": api("POST", "scenes/1/refresh"), "scan": api("POST", "scenes/9/scan"),
        "dismiss": api("POST", f"gaps/{gap_id}/dismiss"), "restore": api("POST", f"gaps/{gap_id}/restore"),
        "compare": api("POST", "gaps/run"),
    })
    bridge = tmp_path / "bridge"
    bridge.mkdir()
    return {"answers": found, "down": bridge_error_when_down(s2p, bridge), "machine": plex.machine_identifier,
            "plex": plex}


def screenshots_dir(tmp_path: Path) -> Path:
    chosen = os.environ.get("S2P_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_page(folder: Path, modules: Path, fixtures: dict[str, Any]) -> Path:
    (folder / "fixtures.js").write_text(
        "window.S2P_FIXTURES = " + json.dumps({"answers": fixtures["answers"], "down": fixtures["down"]}) + ";\n",
        encoding="utf-8")
    scripts = [*(modules / name for name in UMD), PAGE / "standin.js", PLUGIN / "s2p.js", folder / "fixtures.js",
               PAGE / "scenario.js"]
    styles = [modules / "bootstrap/dist/css/bootstrap.min.css", PAGE / "page.css", PLUGIN / "s2p.css"]
    page = folder / "page.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Stash</title>"
        + "".join(f"<link rel='stylesheet' href='{p.as_uri()}'>" for p in styles)
        + "</head><body><div id='root'></div><div id='toasts'></div><pre id='s2p-results'></pre>"
        # fixtures.js comes after s2p.js: the plugin must not need its answers at load time.
        + "".join(f"<script src='{p.as_uri()}'></script>" for p in scripts)
        + "</body></html>", encoding="utf-8")
    return page


def open_page(browser: str, page: Path, view: str, screenshot: Path) -> dict[str, Any]:
    """The page in Chromium: its results (from the DOM) and a screenshot."""
    url = f"{page.as_uri()}?view={view}"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--allow-file-access-from-files", "--hide-scrollbars", "--virtual-time-budget=20000",
              "--window-size=1280,900", f"--user-data-dir={page.parent / ('profile-' + view)}"]
    dumped = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    match = re.search(r"<pre id=\"s2p-results\" data-done=\"1\">(.*?)</pre>", dumped.stdout, re.S)
    assert match, f"the page did not finish ({view}):\n{dumped.stdout[-2000:]}\n{dumped.stderr[-2000:]}"
    results = json.loads(html.unescape(match.group(1)))
    shot = subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot.stderr[-2000:]
    return results


def plugin_calls(results: dict[str, Any]) -> list[dict[str, Any]]:
    calls = [c for c in results["calls"] if "runPluginOperation" in c["query"]]
    for call in calls:
        assert call["url"].endswith("/graphql") and call["method"] == "POST"
        assert call["variables"]["plugin_id"] == "s2p"
    return [c["variables"]["args"] for c in calls]


@pytest.fixture
def page(browser, node_modules, answers, tmp_path):
    return write_page(tmp_path, node_modules, answers)


def test_the_scene_tab_shows_the_status_and_its_buttons_ask_stash_to_run_the_bridge(browser, page, answers, tmp_path):
    shots = screenshots_dir(tmp_path)
    results = open_page(browser, page, "scene", shots / "stash-plugin-scene-tab.png")
    assert results["error"] is None, results
    assert results["tabs"] == ["Details", "File Info", "Plex"]
    assert results["callsBeforeOpening"] == 0  # nothing is asked until the tab opens
    item = answers["plex"].items_by_scene["1"]
    assert results["openInPlex"] == (f"https://app.plex.tv/desktop/#!/server/{answers['machine']}/details"
                                     f"?key=/library/metadata/{item.rating_key}")
    assert len(results["items"]) == 1
    assert "Scenes" in results["items"][0] and str(item.rating_key) in results["items"][0]
    assert "In Plex: 1 item" in results["text"] and "up to date" in results["text"]
    asked = plugin_calls(results)
    assert {"op": "gaps", "limit": 1} in asked  # the navbar's count
    assert [a for a in asked if a["op"] != "gaps"] == [{"op": "scene", "id": "1"}, {"op": "refresh", "id": "1"},
                                                       {"op": "scan", "id": "1"}, {"op": "explain", "id": "1"}]
    assert {"variant": "success", "message": "Plex refreshes this scene's items in a moment"} in results["toasts"]
    assert {"variant": "success", "message": "Plex is scanning 1 folder(s)"} in results["toasts"]
    open_count = sum(answers["answers"]["gaps"]["counts"].values())
    assert results["navbar"] == f"Plex{open_count}"

    missing = open_page(browser, page, "missing", shots / "stash-plugin-scene-missing.png")
    assert missing["error"] is None, missing
    assert "Plex has no item for this scene" in missing["text"]
    assert "s2p matches this file to this scene" in missing["text"]
    assert f"{PLEX_ROOT}/Harbour Films/Fresh/new scene.mp4" in missing["text"]

    down = open_page(browser, page, "down", shots / "stash-plugin-down.png")
    assert down["error"] is None, down
    assert down["banner"].startswith("s2p cannot be reached at http://127.0.0.1:")
    assert ": Connection refused. Fix:" in down["banner"]
    assert "Fix:" in down["banner"]
    assert down["navbar"] == "Plex!"


def test_the_gap_page_lists_dismisses_compares_and_scans_in_stash(browser, page, answers, tmp_path):
    results = open_page(browser, page, "gaps", screenshots_dir(tmp_path) / "stash-plugin-gaps.png")
    assert results["error"] is None, results
    report = answers["answers"]["gaps"]
    counts = report["counts"]
    assert results["kinds"][0] == f"In Plex, not in Stash {counts['plex_only']}"
    assert len(results["kinds"]) == 6
    assert results["rows"] == len(report["gaps"])
    for gap in report["gaps"]:
        assert gap["title"] in results["text"]
    first = report["gaps"][0]
    asked = plugin_calls(results)
    assert {"op": "gaps", "kind": "plex_only", "state": "open", "offset": 0, "limit": 50} in asked
    assert {"op": "dismiss", "id": str(first["id"])} in asked
    assert {"op": "compare"} in asked
    scans = [c["variables"] for c in results["calls"] if "metadataScan" in c["query"]]
    plex_only = next(g for g in report["gaps"] if g["kind"] == "plex_only" and g["stash_path"])
    assert scans == [{"input": {"paths": [plex_only["stash_path"]]}}]
    assert plex_only["stash_path"] == f"{STASH_ROOT}/Harbour Films/Unsorted/clip_0457.mp4"
    assert {"variant": "success", "message": "Dismissed in s2p"} in results["toasts"]
    assert results["plexLinks"] and all(answers["machine"] in link for link in results["plexLinks"])
