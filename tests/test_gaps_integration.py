"""Gap detection end to end: s2p under waitress with its real scheduler
thread, a fake PMS that plexapi talks to, and the schema-checking fake
Stash.  Plex scans (matches) and fetches (metadata) go through s2p's own
routes, as they would in real life."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest

from helpers import PLEX_ROOT, STASH_ROOT, eventually, s2p_guid
from fakeplex import TOKEN, FakePlex



@pytest.fixture
def plex():
    fake = FakePlex()
    fake.add_section(1, "Scenes", [PLEX_ROOT])
    fake.add_section(2, "Films", ["/films"], agent="tv.plex.agents.movie")
    fake.add_item(2, "A film", ["/films/A Film (2001).mkv"], guid="plex://movie/5d7768")
    hf, su = f"{PLEX_ROOT}/Harbour Films", f"{PLEX_ROOT}/Studio Ümlaut"
    items = {
        "1": fake.add_item(1, "Office Affair", [f"{hf}/2023-05-12 - Jane Doe - Office Affair.mp4"], guid=s2p_guid("1")),
        "2": fake.add_item(1, "Don't Stop", [f"{hf}/Don't Stop [Director's Cut] (2022).mkv"],
                           guid="plex://movie/5d776b"),
        # macOS sends decomposed Unicode; the same file for Stash.
        "3": fake.add_item(1, "Café Crème", [unicodedata.normalize("NFD", f"{su}/Café Crème.mp4")], guid=s2p_guid("3")),
        # Plex keeps a file no agent matched as a local item.
        "4": fake.add_item(1, "clip_0457", [f"{PLEX_ROOT}/Unsorted/clip_0457.mp4"], guid="local://8"),
        "5": fake.add_item(1, "scene", [f"{hf}/extras/scene.mp4"], guid="local://9"),
        "6": fake.add_item(1, "Beach Day", [f"{su}/extras/scene.mp4"], guid=s2p_guid("6")),
        "7": fake.add_item(1, "Harbour Nights 1", [f"{hf}/Harbour Nights/Part 1 [1080p].mp4"], guid=s2p_guid("7")),
        "8": fake.add_item(1, "日本の夏", [f"{PLEX_ROOT}/国際/日本の夏.mp4"], guid=s2p_guid("8")),
        "new": fake.add_item(1, "New <b>arrival</b>", [f"{PLEX_ROOT}/New/<b>unknown</b>.mp4"], guid="local://10"),
    }
    fake.items_by_scene = items
    fake.start()
    yield fake
    fake.stop()


def report(s2p, **params) -> dict:
    response = s2p.get("/gaps.json", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def open_keys(s2p) -> set[tuple[str, str]]:
    body = report(s2p)
    keys = set()
    for gap in body["gaps"]:
        keys.add((gap["kind"], gap["scene_id"] if gap["kind"] in ("stash_only", "stale") else
                  gap["rating_key"] if gap["kind"] == "matched_elsewhere" else gap["plex_path"]))
    return keys


def next_run(s2p, after: int) -> dict:
    """The first finished comparison after run ``after``."""
    def done():
        run = report(s2p)["last_run"]
        return run if run and run["id"] > after and run["status"] != "running" else None
    return eventually(done, f"a comparison after run {after}")


def last_run_id(s2p) -> int:
    """The newest run, finished or not: a run already under way may have
    read Plex and Stash before the test changed them."""
    from s2p.gaps import store as db

    runs = s2p.services.gaps.store.read(lambda conn: db.last_runs(conn, 1))
    return runs[0]["id"] if runs else 0


@pytest.fixture
def running(start_s2p, fake_stash, plex):
    # Without the scene index, matching asks Stash: a Stash outage during the
    # "scan" below then leaves a no-match record, as it does before the index
    # has loaded.  The outage is short and on purpose: the circuit breaker
    # must not stay open after it, or the comparisons the tests wait for
    # would fail by design, more or less often with the machine's load.
    return start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                     gaps={"interval": 0.4}, index={"enabled": False}, stash={"breaker_failures": 100})


def test_a_comparison_reads_stash_from_the_scene_index(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5}, gaps={"interval": 0})
    fake_stash.library.add_scene("9", title="Fresh", files=[f"{STASH_ROOT}/Fresh/new scene.mp4"])
    fake_stash.standin.reset_counts()
    s2p.services.gaps.compare()
    # One incremental refresh of the index, not a pass over every scene.
    assert fake_stash.standin.counts["op:S2PSceneSummaries"] == 1
    assert ("stash_only", "9") in open_keys(s2p)


def test_scheduled_comparison_finds_reports_and_resolves_gaps(running, fake_stash, plex):
    s2p = running
    # Plex fetches metadata for scenes 1 and 3: s2p records what it served.
    assert s2p.get("/library/metadata/1").status_code == 200
    assert s2p.get("/library/metadata/3").status_code == 200
    # Plex scans: one file fits two scenes equally; one is not in Stash; one
    # arrives while Stash is down (not a "no match": nothing is known of it).
    assert s2p.match(filename="extras/scene.mp4").json()["MediaContainer"]["size"] == 0
    assert s2p.match(filename="Unsorted/clip_9999.mp4").json()["MediaContainer"]["size"] == 0
    fake_stash.standin.fail("error")
    assert s2p.match(filename=f"{PLEX_ROOT}/Unsorted/clip_0457.mp4").json()["MediaContainer"]["size"] == 0
    fake_stash.standin.heal()
    # Scene 1 changes in Stash after Plex took it; scene 9 is new in Stash.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    fake_stash.library.update_scene("1", updated_at=now.isoformat())
    fake_stash.library.add_scene("9", title="Fresh", files=[f"{STASH_ROOT}/Fresh/new scene.mp4"])

    run = next_run(s2p, last_run_id(s2p))
    assert run["status"] == "complete", run
    assert run["stats"]["sections"] == ["Scenes"]  # the Films library is on another agent
    items = plex.items_by_scene
    assert open_keys(s2p) == {
        ("stash_only", "9"),
        ("stash_only", "7"),  # Plex has its 1080p file, not its 2160p one
        ("plex_only", f"{PLEX_ROOT}/New/<b>unknown</b>.mp4"),
        ("matched_elsewhere", str(items["2"].rating_key)),
        ("matched_elsewhere", str(items["4"].rating_key)),
        ("matched_elsewhere", str(items["5"].rating_key)),
        # The "new" item's file is not in Stash: one record (plex_only), not a second "not matched by s2p".
        ("stale", "1"),
        ("ambiguous", "extras/scene.mp4"),
        # The no-match for Unsorted/clip_9999.mp4 ended: a relative path Plex has no file for.
    }
    body = report(s2p)
    assert body["counts"] == {"plex_only": 1, "stash_only": 2, "matched_elsewhere": 3, "stale": 1,
                              "no_match": 0, "ambiguous": 1}
    gaps = {(g["kind"], g["rating_key"] or g["scene_id"]): g for g in body["gaps"]}
    fresh = gaps[("stash_only", "9")]
    assert fresh["stash_path"] == f"{STASH_ROOT}/Fresh/new scene.mp4"
    assert fresh["plex_path"] == f"{PLEX_ROOT}/Fresh/new scene.mp4" and fresh["section"] == "Scenes"
    assert gaps[("stale", str(items["1"].rating_key))]["scene_id"] == "1"
    unmatched = gaps[("matched_elsewhere", str(items["4"].rating_key))]
    assert unmatched["reason"] == "no agent matched it (Plex keeps it as local://8); its file is scene 4 in Stash"
    no_match = next(g for g in report(s2p, state="resolved")["gaps"] if g["kind"] == "no_match")
    assert not no_match["detail"]["error"] and no_match["plex_path"] == "Unsorted/clip_9999.mp4"
    assert no_match["resolution"] == "the file is no longer in Plex"
    new = next(g for g in body["gaps"] if g["kind"] == "plex_only")
    assert new["reason"].endswith("; in Plex: no agent matched it (Plex keeps it as local://10)")
    ambiguous = next(g for g in body["gaps"] if g["kind"] == "ambiguous")
    assert {c["scene"] for c in ambiguous["detail"]["candidates"]} == {"5", "6"}
    assert TOKEN not in str(body)
    # The listing came in pages; no item cost a request of its own.
    assert not [r for r in plex.requests if r.startswith("GET /library/metadata/")]

    # The user fixes things: Plex scans the new file, the two unmatched
    # items get matched (Refresh, Fix Match), Plex fetches scene 1 again.
    plex.add_item(1, "Fresh", [f"{PLEX_ROOT}/Fresh/new scene.mp4"], guid=s2p_guid("9"))
    items["4"].guid = s2p_guid("4")
    items["5"].guid = s2p_guid("5")
    s2p.services.scenes.forget("1")
    assert s2p.get("/library/metadata/1").status_code == 200
    # The stale record ends as soon as Plex has the current version.
    eventually(lambda: ("stale", "1") not in open_keys(s2p), "the stale record to end")
    run = next_run(s2p, last_run_id(s2p))
    assert run["status"] == "complete"
    assert open_keys(s2p) == {
        ("plex_only", f"{PLEX_ROOT}/New/<b>unknown</b>.mp4"),
        ("matched_elsewhere", str(items["2"].rating_key)),
        ("stash_only", "7"),  # still only one of its two files in Plex
    }
    resolved = {(g["kind"], g["resolution"]) for g in report(s2p, state="resolved")["gaps"]}
    # Whichever came first: the fetch itself, or a comparison that saw it.
    resolved.discard(("stale", "no longer found by the comparison"))
    resolved.add(("stale", "Plex fetched the current version"))
    assert resolved == {
        ("stale", "Plex fetched the current version"),
        ("stash_only", "no longer found by the comparison"),
        ("matched_elsewhere", "no longer found by the comparison"),
        ("ambiguous", "Plex now has it matched by s2p"),
        ("no_match", "the file is no longer in Plex"),
    }


def test_dismissed_gap_returns_when_its_plex_file_changes(running, plex):
    s2p = running
    run = next_run(s2p, 0)
    gap = next(g for g in report(s2p, kind="plex_only")["gaps"])
    response = s2p.post(f"/gaps/{gap['id']}/dismiss")
    assert response.status_code == 200 and response.json()["dismissed_at"]
    run = next_run(s2p, run["id"])
    assert report(s2p, kind="plex_only")["gaps"] == []
    assert [g["id"] for g in report(s2p, kind="plex_only", state="dismissed")["gaps"]] == [gap["id"]]
    plex.items_by_scene["new"].parts[0].size += 1  # Plex's part changed
    next_run(s2p, last_run_id(s2p))
    back = report(s2p, kind="plex_only")["gaps"]
    assert [g["id"] for g in back] == [gap["id"]] and back[0]["dismissed_at"] is None


def test_a_failed_comparison_resolves_nothing(running, plex):
    s2p = running
    next_run(s2p, 0)
    before = open_keys(s2p)
    assert before
    plex.stop()
    failed = next_run(s2p, last_run_id(s2p))
    assert failed["status"] == "failed" and "Plex" in failed["error"]
    assert TOKEN not in failed["error"]
    assert open_keys(s2p) == before


def test_stale_items_are_refreshed_in_plex_once_per_change(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                    gaps={"interval": 0.4, "refresh_stale": True, "refresh_per_minute": 600})
    assert s2p.get("/library/metadata/7").status_code == 200
    fake_stash.library.update_scene("7", updated_at=datetime.now(timezone.utc).isoformat())
    eventually(lambda: plex.refreshed, "a refresh")
    first = next_run(s2p, last_run_id(s2p))
    next_run(s2p, first["id"])
    assert plex.refreshed == [plex.items_by_scene["7"].rating_key]
    stale = report(s2p, kind="stale")["gaps"][0]
    assert stale["refreshed_at"] is not None


@pytest.mark.integration
def test_records_survive_a_restart(start_s2p, fake_stash, plex, tmp_path):
    state = {"dir": str(tmp_path / "shared-state")}
    first = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                      gaps={"interval": 0.4}, state=state)
    next_run(first, 0)
    before = open_keys(first)
    first.server.stop()
    first.services.stop()
    second = start_s2p(fake_stash.url, state=state)  # no Plex now: only what was recorded
    body = report(second)
    # (The last run may read "interrupted": stopping cut short a comparison under way.)
    assert open_keys(second) == before and body["last_complete"] is not None
    assert body["comparison"] == {"plex_configured": False, "interval_seconds": 21600.0, "running": False,
                                  "scheduled": False}


# ---------------------------------------------------------------- the page and the routes


def test_the_page_is_plain_html_with_counts_filters_and_escaped_paths(running):
    s2p = running
    next_run(s2p, 0)
    response = s2p.get("/gaps")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<script" not in page and 'name=viewport' in page
    assert "In Plex, not in Stash (1)" in page and "Not matched by s2p (3)" in page
    assert "&lt;b&gt;unknown&lt;/b&gt;.mp4" in page and "<b>unknown</b>" not in page
    assert f"{PLEX_ROOT}/New/" in page and "Stash has no file at" in page
    stale_only = s2p.get("/gaps", params={"kind": "plex_only"}).text
    assert "Stash has no file at" in stale_only and "another agent" not in stale_only
    assert "scan them in Stash" in stale_only  # what to do about this kind


def test_bad_report_queries_get_a_json_400(running):
    s2p = running
    for params in ({"kind": "bogus"}, {"state": "sideways"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "x"}):
        for path in ("/gaps", "/gaps.json"):
            response = s2p.get(path, params=params)
            assert response.status_code == 400, (path, params)
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.json()["problems"]


def test_dismiss_route_refuses_unknown_ids_other_sites_and_open_redirects(running):
    s2p = running
    next_run(s2p, 0)
    gap = report(s2p)["gaps"][0]
    assert s2p.post("/gaps/987654/dismiss").status_code == 404
    assert s2p.post("/gaps/abc/dismiss").status_code == 404
    assert s2p.post(f"/gaps/{gap['id']}/explode").status_code == 404
    hostile = s2p.post(f"/gaps/{gap['id']}/dismiss", headers={"Origin": "http://evil.example"})
    assert hostile.status_code == 403 and hostile.json()["error"] == "cross-site request"
    assert s2p.post(f"/gaps/{gap['id']}/dismiss", params={"back": "https://evil.example/"}).status_code == 400
    form = s2p.post(f"/gaps/{gap['id']}/dismiss", params={"back": "/gaps?kind=stale"},
                    headers={"Origin": s2p.url}, allow_redirects=False)
    assert form.status_code == 303 and form.headers["Location"].endswith("/gaps?kind=stale")
    assert s2p.post(f"/gaps/{gap['id']}/restore").json()["dismissed_at"] is None


def test_compare_now_starts_a_run(start_s2p, fake_stash, plex):
    s2p = start_s2p(fake_stash.url, plex={"url": plex.url, "token": TOKEN, "timeout": 5}, gaps={"interval": 0})
    assert report(s2p)["last_run"] is None
    response = s2p.post("/gaps/run")
    assert response.status_code == 202
    assert next_run(s2p, 0)["status"] == "complete"


def test_without_plex_the_page_shows_scan_time_records_only(s2p, fake_stash):
    assert s2p.match(filename="Nowhere/none.mp4").json()["MediaContainer"]["size"] == 0
    eventually(lambda: report(s2p)["counts"]["no_match"] == 1, "the no-match record")
    assert s2p.post("/gaps/run").status_code == 409
    assert "set [plex] url and token" in s2p.get("/gaps").text
    # Stash gets the file; Plex asks again and it matches: the record is settled.
    fake_stash.library.add_scene("9", title="None", files=[f"{STASH_ROOT}/Nowhere/none.mp4"])
    s2p.services.index.refresh()  # as the scheduled refresh would (the index remembered the miss)
    assert s2p.match(filename="Nowhere/none.mp4").json()["MediaContainer"]["size"] == 1
    eventually(lambda: report(s2p)["counts"]["no_match"] == 0, "the record to be settled")
    resolved = report(s2p, state="resolved")["gaps"]
    assert [g["resolution"] for g in resolved] == ["matched when Plex asked again"]
