"""[debug] capture: the requests Plex sent, kept with secrets masked, across
restarts, shown by ``s2p debug requests`` and ``GET /debug/requests``."""

from __future__ import annotations

import pytest

import json


from fakeplex import TOKEN as PLEX_TOKEN
from helpers import API_KEY, run
from s2p.ops.capture import FILE_NAME, RequestCapture, read

SECRET = "path-secret-abcdef0123456789"


def scan_like_plex(s2p) -> None:
    """What Plex sends during a scan: registration, a match, metadata, images, a poster."""
    headers = {"X-Plex-Token": PLEX_TOKEN, "X-Plex-Language": "en", "X-Plex-Client-Identifier": "pms-1",
               "User-Agent": "PlexMediaServer/1.43.5"}
    root = f"/{SECRET}"
    assert s2p.get(f"{root}/", headers=headers).status_code == 200
    match = s2p.post(f"{root}/library/metadata/matches", headers=headers,
                     json={"type": 1, "filename": "Harbour Films/extras/scene.mp4", "year": "soon"}).json()
    key = match["MediaContainer"]["Metadata"][0]["ratingKey"]
    item = s2p.get(f"{root}/library/metadata/{key}", headers=headers).json()["MediaContainer"]["Metadata"][0]
    assert s2p.get(f"{root}/library/metadata/{key}/images", headers=headers).status_code == 200
    assert s2p.get(item["thumb"].replace(s2p.url, ""), params={"X-Plex-Token": PLEX_TOKEN}).status_code == 200
    assert s2p.get("/healthz").status_code in (200, 503)  # an operator route: not Plex's, not kept


@pytest.mark.integration
def test_plex_requests_are_kept_masked_across_a_restart(start_s2p, fake_stash, tmp_path):
    state = {"dir": str(tmp_path / "state")}
    s2p = start_s2p(fake_stash.url, debug={"capture": 50}, server={"secret": SECRET},
                    plex={"url": "http://127.0.0.1:9", "token": PLEX_TOKEN}, artwork={"push": False}, state=state)
    scan_like_plex(s2p)
    listed = s2p.get("/debug/requests").json()
    assert listed["count"] == 5 and listed["limit"] == 50
    methods_paths = [(r["method"], r["path"].split("/library")[-1]) for r in listed["requests"]]
    assert methods_paths[1] == ("POST", "/metadata/matches")
    match = listed["requests"][1]
    assert json.loads(match["body"])["year"] == "soon"  # what Plex sent, as it sent it
    assert match["status"] == 200 and match["bytes"] > 0 and match["ms"] >= 0
    assert match["headers"]["X-PLEX-LANGUAGE"] == "en" and match["headers"]["X-PLEX-TOKEN"] == "***"
    assert listed["requests"][4]["query"]["X-Plex-Token"] == "***" and listed["requests"][4]["status"] == 200

    # Another s2p on the same state directory still has them, and the command prints them.
    s2p.server.stop()
    s2p.services.stop()
    again = start_s2p(fake_stash.url, debug={"capture": 50}, state=state)
    assert again.get("/debug/requests").json()["requests"] == listed["requests"]
    result = run("debug", "requests", "--json", env={"S2P_STATE_DIR": state["dir"], "S2P_DEBUG_CAPTURE": "50"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"] == listed["requests"]
    text = run("debug", "requests", env={"S2P_STATE_DIR": state["dir"], "S2P_DEBUG_CAPTURE": "50"}).stdout
    assert "POST /***" in text and "-> 200" in text
    for secret in (SECRET, PLEX_TOKEN, API_KEY):
        assert secret not in (tmp_path / "state" / FILE_NAME).read_text(encoding="utf-8")
        assert secret not in result.stdout + text and secret not in json.dumps(listed)


def test_capture_is_off_by_default(s2p):
    assert s2p.get("/debug/requests").status_code == 404
    result = run("debug", "requests", env={"S2P_STATE_DIR": str(s2p.settings.state_dir)})
    assert result.returncode == 0 and "set [debug] capture" in result.stdout


def test_the_file_stays_bounded_and_keeps_the_latest(tmp_path):
    capture = RequestCapture(tmp_path, 3, secrets=["hush-hush-secret"])
    for n in range(20):
        capture.add({"n": n, "path": f"/x/hush-hush-secret/{n}"})
    assert [r["n"] for r in capture.records()] == [17, 18, 19]
    kept = read(tmp_path / FILE_NAME)
    assert len(kept) <= 6 and kept[-1]["n"] == 19
    assert "hush-hush-secret" not in (tmp_path / FILE_NAME).read_text(encoding="utf-8")
    assert [r["n"] for r in RequestCapture(tmp_path, 3).records()] == [17, 18, 19]


@pytest.mark.integration
def test_a_record_under_waitress_holds_what_plex_sent_byte_for_byte(start_s2p, fake_stash):
    """Through a real server: the request target as waitress received it, and
    the paging of the answer."""
    from s2p.ops.capture import from_sent

    s2p = start_s2p(fake_stash.url, debug={"capture": 20}, server={"secret": SECRET})
    query = "X-Plex-Container-Start=0&X-Plex-Container-Size=2&X-Plex-Container-Size=&includeChildren&a+b=%C3%A9%2F"
    path = f"/{SECRET}/tv/library/metadata/show-1/children/"
    listed = s2p.get(f"{path}?{query}")
    assert listed.status_code == 200
    body = b'{"type": 2, "title": "Harbour \xff Films"}'
    refused = s2p.post(f"/{SECRET}/tv/library/metadata/matches", data=body,
                       headers={"Content-Type": "application/json"})
    assert refused.status_code == 400
    kept = s2p.get("/debug/requests").json()["requests"]
    page, match = kept[-2], kept[-1]
    assert from_sent(page["raw_path"]) == path.replace(SECRET, f"***{SECRET[-4:]}").encode()
    assert from_sent(page["raw_query"]) == query.encode()
    container = listed.json()["MediaContainer"]
    assert page["answer"] == {"offset": container["offset"], "size": container["size"],
                              "totalSize": container["totalSize"]} and page["answer"]["size"] >= 1
    assert from_sent(match["body"]) == body and match["body_bytes"] == len(body) and match["status"] == 400
