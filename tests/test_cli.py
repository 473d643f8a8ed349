"""The command line, run as a user runs it: a separate process."""

from __future__ import annotations

import pytest

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from helpers import API_KEY, PLEX_ROOT, STASH_ROOT, free_port, run, serve_and_call, wait_for, write_config






def test_version():
    result = run("version")
    assert result.returncode == 0 and result.stdout.startswith("s2p ")
    flag = run("--version")
    assert flag.returncode == 0 and flag.stdout.split()[:2] == result.stdout.split()[:2]


@pytest.mark.integration
def test_config_is_taken_before_or_after_the_command(tmp_path, fake_stash):
    config = write_config(tmp_path, fake_stash.url)
    environ = {"S2P_CONFIG": str(tmp_path / "absent.toml")}  # the option must win over the environment
    before = run("--config", str(config), "check", env=environ)
    after = run("check", "--config", str(config), env=environ)
    for result in (before, after):
        assert result.returncode == 0, result.stdout + result.stderr
        assert str(config) in result.stdout
    served = run("--config", str(tmp_path / "absent.toml"), "serve", "--config", str(config / "nope"))
    assert served.returncode == 2 and "nope" in served.stderr  # the later one counts, and a missing file stops


def test_bad_config_stops_with_the_key_and_the_fix(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "eighty"\n[stash]\nurl = "localhost:9999"\n', encoding="utf-8")
    for command in ("serve", "check"):
        result = run(command, config=config, timeout=20)
        assert result.returncode == 2
        assert "[server] port" in result.stderr and "[stash] url" in result.stderr
        assert "Fix:" in result.stderr and "Traceback" not in result.stderr


def test_bad_environment_value_stops_start_up():
    result = run("serve", env={"S2P_SERVER_THREADS": "many"}, timeout=20)
    assert result.returncode == 2 and "S2P_SERVER_THREADS" in result.stderr


@pytest.mark.integration
def test_check_reports_stash_version_and_masks_the_key(tmp_path, fake_stash):
    result = run("check", config=write_config(tmp_path, fake_stash.url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "v0.30.1" in result.stdout and "round trip" in result.stdout
    assert API_KEY not in result.stdout + result.stderr
    assert "***" + API_KEY[-4:] in result.stdout
    assert "WARNING pictures: image URLs on the address Plex calls, which Plex 1.43.5+ refuses" in result.stdout


def test_check_says_how_pictures_reach_plex(tmp_path, fake_stash):
    cases = [
        ('[provider]\npublic_url = "https://img.example.net"', "  pictures: Plex fetches them from https://img.example.net"),
        ('[provider]\npublic_url = "http://192.168.1.5:8008"',
         "  WARNING pictures: image URLs on http://192.168.1.5:8008, which Plex 1.43.5+ refuses"),
        # Plex known and no public URL: uploading is on without being asked.
        (f'[plex]\nurl = "http://127.0.0.1:{free_port()}"\ntoken = "tok-0123456789"',
         "  pictures: uploaded into Plex by s2p ([artwork] push, on since [plex] is set"),
        (f'[plex]\nurl = "http://127.0.0.1:{free_port()}"\ntoken = "tok-0123456789"\n[artwork]\npush = false',
         "  WARNING pictures: image URLs on the address Plex calls"),
    ]
    for extra, said in cases:
        result = run("check", config=write_config(tmp_path, fake_stash.url, extra="\n" + extra + "\n"))
        assert said in result.stdout, (extra, result.stdout)
        assert "posters original" in result.stdout


def test_check_fails_clearly_when_stash_is_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("check", config=write_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert result.returncode == 1
    assert "NOT reachable" in result.stdout and "connection refused" in result.stdout


def test_check_fails_on_a_rule_that_does_not_round_trip(tmp_path, fake_stash):
    config = write_config(tmp_path, fake_stash.url).read_text().replace(
        f'"{STASH_ROOT}/\\\\1"]', '"/elsewhere/\\\\1"]')
    path = tmp_path / "lossy.toml"
    path.write_text(config, encoding="utf-8")
    result = run("check", config=path)
    assert result.returncode == 2 and '[[paths]] "library"' in result.stderr


@pytest.mark.integration
def test_match_explains_its_decision(tmp_path, fake_stash):
    config = write_config(tmp_path, fake_stash.url)
    result = run("match", "--filename", "extras/scene.mp4", config=config)
    assert result.returncode == 1  # two scenes share that suffix: no automatic match
    assert "ambiguous" in result.stdout and "scene      5" in result.stdout and "scene      6" in result.stdout
    result = run("match", "--filename", f"{PLEX_ROOT}/Harbour Films/extras/scene.mp4", "--json", config=config)
    assert result.returncode == 0
    explained = json.loads(result.stdout)
    assert explained["decision"] == {"scene": "5", "score": 100, "step": "path"}
    assert explained["translated"] == f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"


@pytest.mark.integration
def test_match_explains_from_stash_queries_or_from_the_index(tmp_path, fake_stash):
    config = write_config(tmp_path, fake_stash.url)
    direct = run("match", "--filename", "Studio Ümlaut/extras/scene.mp4", config=config)
    assert direct.returncode == 0 and "source: Stash queries" in direct.stdout
    assert "decision: scene 6 (score 96, by suffix)" in direct.stdout
    loaded = run("match", "--index", "--json", "--filename", "Studio Ümlaut/extras/scene.mp4", config=config)
    assert loaded.returncode == 0 and "8 scenes, 9 files" in loaded.stderr
    explained = json.loads(loaded.stdout)
    assert explained["source"].startswith("scene index (8 scenes")
    assert explained["decision"] == {"scene": "6", "score": 96, "step": "suffix"}
    assert [s["step"] for s in explained["steps"]] == ["path", "name"]






def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_demo_serves_the_sample_library_and_shows_every_route():
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
    environ["S2P_SERVER_PORT"] = str(port)  # the demo takes the port from the environment too
    process = subprocess.Popen([sys.executable, "-m", "s2p", "demo"], env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        assert requests.get(base + "/").json()["MediaProvider"]["identifier"] == "tv.plex.agents.custom.s2p"
        match = requests.post(base + "/library/metadata/matches",
                              json={"type": 1, "filename": "Harbour Films/extras/scene.mp4"}).json()
        assert match["MediaContainer"]["Metadata"][0]["ratingKey"] == "5"
        metadata = requests.get(base + "/library/metadata/1").json()["MediaContainer"]["Metadata"][0]
        assert metadata["title"] == "Office Affair"
        poster = requests.get(metadata["thumb"])
        assert poster.status_code == 200 and poster.content.startswith(b"\x89PNG")
        assert requests.get(base + "/images/scene/1/poster").status_code == 403  # unsigned
        # The same library as TV: the studio's show, its seasons, its episodes, one matched by its file.
        show = requests.post(base + "/tv/library/metadata/matches", json={"type": 2, "title": "Harbour Films"}).json()
        assert [s["ratingKey"] for s in show["MediaContainer"]["Metadata"]] == ["show-1"]
        seasons = requests.get(base + "/tv/library/metadata/show-1/children").json()["MediaContainer"]
        assert seasons["size"] >= 1 and all(s["type"] == "season" for s in seasons["Metadata"])
        page = requests.get(base + "/tv/library/metadata/show-1/grandchildren?X-Plex-Container-Size=3").json()
        assert page["MediaContainer"]["size"] == 3 and page["MediaContainer"]["totalSize"] >= 3
        episode = requests.post(base + "/tv/library/metadata/matches", json={
            "type": 4, "filename": "Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4"}).json()
        episodes = episode["MediaContainer"]["Metadata"]
        assert [(e["ratingKey"], e["parentIndex"]) for e in episodes] == [("episode-1", 2023)]
        # The sample scan left gap records of more than one kind.
        counts = requests.get(base + "/gaps.json").json()["counts"]
        assert counts["ambiguous"] >= 1 and counts["no_match"] >= 1
        # Idle, it sleeps: well under 5 % of a core over three seconds.
        before = cpu_seconds(process.pid)
        time.sleep(3)
        assert cpu_seconds(process.pid) - before < 0.15
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "register this URL in Plex" in err
    # Nothing only a real deployment needs, and a clean stop says nothing alarming.
    assert "WARNING" not in err and "ERROR" not in err and "Traceback" not in err, err
    # Every route a person can open is printed, each one working.
    printed = set(re.findall(rf"{re.escape(base)}(/[^\s']*)", out))
    for route in ("/", "/library/metadata/matches", "/library/metadata/1", "/library/metadata/1/images",
                  "/tv", "/tv/library/metadata/matches", "/tv/library/metadata/show-1/children",
                  "/tv/library/metadata/show-1/grandchildren?X-Plex-Container-Size=3",
                  "/gaps", "/gaps.json", "/healthz", "/metrics", "/openapi.json"):
        assert route in printed, (route, out)
    assert any(p.startswith("/debug/match?") for p in printed) and any(p.startswith("/images/") for p in printed)
    # The printed poster URL is signed and works.
    assert re.search(r"curl -s -o poster.png '([^']+)'", out).group(1) == metadata["thumb"]


def test_a_busy_port_stops_serve_and_demo_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}",
                              extra=f'\n[server]\nhost = "127.0.0.1"\nport = {port}\n')
        results = [run("serve", config=config, timeout=30), run("demo", "--port", str(port), timeout=30)]
    for result in results:
        assert result.returncode == 2, result.stderr
        # Besides the first log line, which names the configuration file in use.
        lines = [line for line in result.stderr.strip().splitlines() if " configuration: " not in line]
        assert len(lines) == 1, result.stderr
        assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0] and "Fix:" in lines[0]
        assert "curl" not in result.stdout


def test_an_address_not_on_this_machine_stops_start_up_in_one_line():
    result = run("demo", "--host", "192.0.2.1", "--port", str(free_port()), timeout=30)  # TEST-NET-1
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "192.0.2.1" in result.stderr and "[server] host" in result.stderr


def test_serve_starts_without_stash_and_answers_empty(tmp_path):
    def calls(base):
        started = time.monotonic()
        body = requests.post(base + "/library/metadata/matches", json={"type": 1, "filename": "a/b.mp4"}).json()
        assert body["MediaContainer"]["size"] == 0 and time.monotonic() - started < 3

    _, err = serve_and_call(tmp_path, f"http://127.0.0.1:{free_port()}", calls)
    assert "Stash is not reachable" in err
    assert "WARNING" in err and "pictures: image URLs on the address Plex calls" in err  # said at start-up
    assert "localhost" in err  # the loopback warning about the URL to register


def test_serve_stops_with_the_fix_when_the_state_dir_is_unusable(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the state directory should be")
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}",
                          extra=f'\n[server]\nhost = "127.0.0.1"\nport = {free_port()}\n')
    text = config.read_text().replace(f'dir = "{tmp_path / "state"}"', f'dir = "{blocker}"')
    config.write_text(text)
    result = run("serve", config=config, timeout=30)
    assert result.returncode == 2
    assert "state directory" in result.stderr and "[state] dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_prints_the_stash_plugin_source(tmp_path, fake_stash):
    result = run("check", config=write_config(tmp_path, fake_stash.url))
    assert result.returncode == 0, result.stdout + result.stderr
    from s2p.common.network import in_container

    line = next(line for line in result.stdout.splitlines() if "Stash plugin: add" in line).strip()
    # In a container s2p cannot know the address Stash reaches it at: it says what to put there.
    start = "Stash plugin: add <s2p's address>" if in_container() else "Stash plugin: add http://"
    assert line.startswith(start) and "/stash-plugin/index.yml in Stash > Settings > Plugins" in line
