"""Live sync with the test suite's fake Stash and fake Plex: edits in Stash
reach exactly the Plex items that show them, within a cycle or two."""

from __future__ import annotations

import pytest

from fakeplex import TOKEN, FakePlex
from helpers import PLEX_ROOT, STASH_ROOT, eventually, make_settings, run, s2p_guid
from s2p.app.services import build_core, build_sync
from s2p.scenes.index import TITLE

LATER = "2025-06-01T10:00:00+00:00"


@pytest.fixture
def plex():
    fake = FakePlex()
    fake.add_section(1, "Scenes", [PLEX_ROOT])
    fake.add_section(2, "Films", ["/films"], agent="tv.plex.agents.movie")
    fake.items_by_scene = {scene: fake.add_item(1, f"scene {scene}", [f"{PLEX_ROOT}/{scene}.mp4"], guid=s2p_guid(scene))
                           for scene in ("1", "2", "3", "5", "7")}
    fake.add_item(2, "Same guid, another agent's library", ["/films/a.mkv"], guid=s2p_guid("1"))
    fake.start()
    yield fake
    fake.stop()


def cycles(s2p) -> int:
    return s2p.services.sync.cycles


def start(start_s2p, fake_stash, plex, **overrides):
    settings = {"plex": {"url": plex.url, "token": TOKEN, "timeout": 5}, "sync": {"interval": 0.3},
                "artwork": {"push": False}, "gaps": {"interval": 0}, **overrides}
    return start_s2p(fake_stash.url, **settings)


def test_edits_in_stash_refresh_exactly_the_plex_items_that_show_them(start_s2p, fake_stash, plex):
    s2p = start(start_s2p, fake_stash, plex)
    eventually(lambda: cycles(s2p) >= 2, "the first cycles")
    assert plex.refreshed == []  # the first look only sets the starting point
    before = s2p.get("/library/metadata/1").json()["MediaContainer"]["Metadata"][0]
    assert before["title"] == "Office Affair"

    # A title edited; a performer renamed (scene 3 shows performer 2, as does scene 1).
    fake_stash.library.update_scene("1", title="Office Affair (Remastered)", updated_at=LATER)
    fake_stash.library.update_entity("performer", "2", name="Zoë M.", updated_at=LATER)
    items = plex.items_by_scene
    eventually(lambda: {items["1"].rating_key, items["3"].rating_key} <= set(plex.refreshed), "the refreshes")
    seen = cycles(s2p)
    eventually(lambda: cycles(s2p) >= seen + 3, "three more cycles")
    # Only the affected items, each once; the other agent's library is left alone.
    assert sorted(plex.refreshed) == sorted([items["1"].rating_key, items["3"].rating_key])
    after = s2p.get("/library/metadata/1").json()["MediaContainer"]["Metadata"][0]
    assert after["title"] == "Office Affair (Remastered)"  # s2p forgot its cached scene
    assert "Zoë M." in [r["tag"] for r in after["Role"]]
    # Each refresh stays queued until Plex has fetched the metadata (scene 1's just now; 3's next).
    assert s2p.get("/healthz").json()["sync"]["queued"] == 1
    assert s2p.get("/library/metadata/3").status_code == 200
    health = s2p.get("/healthz").json()["sync"]
    assert health["queued"] == 0 and health["last"]["error"] is None
    metrics = s2p.get("/metrics").text
    assert "s2p_sync_refreshes_total 2" in metrics


def test_a_restart_between_an_edit_and_its_refresh_loses_nothing(start_s2p, fake_stash, plex, tmp_path):
    state = {"dir": str(tmp_path / "state")}
    dead = FakePlex().start()
    dead_url = dead.url
    dead.stop()  # Plex is down while the edit is seen
    first = start_s2p(fake_stash.url, plex={"url": dead_url, "token": TOKEN, "timeout": 1},
                      sync={"interval": 0.3}, artwork={"push": False}, gaps={"interval": 0}, state=state)
    eventually(lambda: cycles(first) >= 1, "the first cycle")
    fake_stash.library.update_scene("5", title="Beach Day, retitled", updated_at=LATER)
    eventually(lambda: first.services.sync.store.pending() == 1 and first.services.sync.failures_total, "a failed try")
    first.server.stop()
    first.services.stop()

    second = start(start_s2p, fake_stash, plex, state=state)
    store = second.services.sync.store
    assert store.pending() == 1  # the refresh survived the restart
    store.retry("5", 0, 1, "due now")  # as if the backoff had passed
    eventually(lambda: plex.items_by_scene["5"].rating_key in plex.refreshed, "the refresh after the restart")
    assert plex.refreshed == [plex.items_by_scene["5"].rating_key]


def test_dry_run_says_what_the_next_cycle_would_refresh(start_s2p, fake_stash, plex, tmp_path):
    s2p = start(start_s2p, fake_stash, plex, sync={"interval": 3600})
    env = {"S2P_STASH_URL": fake_stash.url, "S2P_STASH_API_KEY": s2p.settings.stash.api_key.get_secret_value(),
           "S2P_PLEX_URL": plex.url, "S2P_PLEX_TOKEN": TOKEN, "S2P_STATE_DIR": str(s2p.settings.state_dir)}
    first = run("sync", "--dry-run", env=env)
    assert first.returncode == 0 and "has not looked at Stash yet" in first.stdout
    s2p.services.sync.cycle()  # the starting point
    fake_stash.library.update_entity("studio", "3", name="Studio Umlaut", updated_at=LATER)
    result = run("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "refresh scene 3 in Plex (its studio was edited in Stash)" in result.stdout
    assert "refresh scene 6 in Plex (its studio was edited in Stash)" in result.stdout
    assert "Nothing was done" in result.stdout and plex.refreshed == []
    assert TOKEN not in result.stdout


def test_sync_is_off_without_plex(s2p):
    assert s2p.services.sync is None


def test_a_new_scene_whose_file_plex_lacks_gets_a_partial_scan_of_its_folder(start_s2p, fake_stash, plex):
    s2p = start(start_s2p, fake_stash, plex)
    eventually(lambda: cycles(s2p) >= 2, "the first cycles")
    fake_stash.library.add_scene("30", title="Fresh", updated_at=LATER,
                                 files=[f"{STASH_ROOT}/Fresh Studio/new scene.mp4"])
    eventually(lambda: plex.scans, "a scan")
    seen = cycles(s2p)
    eventually(lambda: cycles(s2p) >= seen + 2, "two more cycles")
    # Only that folder, once, in the library on s2p's agent; never a whole section.
    assert plex.scans == [(1, f"{PLEX_ROOT}/Fresh Studio")]
    assert "s2p_sync_scans_total 1" in s2p.get("/metrics").text
    # When Plex then asks s2p to match the new file, it matches at once.
    found = s2p.match(type=1, filename=f"{PLEX_ROOT}/Fresh Studio/new scene.mp4").json()["MediaContainer"]
    assert [m["ratingKey"] for m in found["Metadata"]] == ["30"]


def test_a_scene_deleted_from_stash_shows_in_the_gap_report_within_a_cycle(start_s2p, fake_stash, plex):
    s2p = start(start_s2p, fake_stash, plex)
    eventually(lambda: cycles(s2p) >= 2, "the first cycles")
    fake_stash.library.remove_scene("2")
    item = plex.items_by_scene["2"]

    def recorded():
        gaps = s2p.get("/gaps.json", params={"kind": "matched_elsewhere"}).json()["gaps"]
        return [g for g in gaps if g["rating_key"] == str(item.rating_key)]

    [gap] = eventually(recorded, "the gap record")
    assert gap["reason"] == "carries s2p's guid for scene 2, which Stash no longer has"
    assert gap["plex_path"] == f"{PLEX_ROOT}/2.mp4"
    seen = cycles(s2p)
    eventually(lambda: cycles(s2p) >= seen + 2, "two more cycles")
    assert len(recorded()) == 1 and plex.refreshed == []  # recorded once, and nothing refreshed for it


def test_one_updated_since_query_a_cycle_serves_both_the_index_and_sync(fake_stash, plex, tmp_path):
    settings = make_settings(fake_stash.url, tmp_path, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                             sync={"interval": 60}, artwork={"push": False})
    core = build_core(settings)
    forgotten = []
    sync = build_sync(settings, core, forget=forgotten.append)
    try:
        core.index.load()
        counts = fake_stash.standin.counts
        fake_stash.standin.reset_counts()
        sync.cycle()  # the starting point comes from the index: no query for it
        assert counts["op:S2PSceneSummaries"] == 1 and counts["op:S2PSceneIds"] == 0

        fake_stash.library.update_scene("1", title="Office Affair (Remastered)", updated_at=LATER)
        fake_stash.standin.reset_counts()
        report = sync.cycle()
        # The index's refresh asked "updated since" once; sync read its answer.
        assert counts["op:S2PSceneSummaries"] == 1 and counts["op:S2PSceneIds"] == 0
        assert report.changed == 1 and forgotten == ["1"]
        assert plex.refreshed == [plex.items_by_scene["1"].rating_key]
        # The index is current too, so a match right after sees the new title...
        assert core.index.snapshot().scene("1")[TITLE] == "Office Affair (Remastered)"
        # ...and the index's own scheduled refresh, due a moment later, has nothing to ask.
        fake_stash.standin.reset_counts()
        assert core.index.refresh(max_age=settings.index.refresh_interval / 2) == 0
        assert counts["graphql"] == 0
    finally:
        sync.close()
        core.stop()


def test_without_the_index_sync_asks_stash_itself(fake_stash, plex, tmp_path):
    settings = make_settings(fake_stash.url, tmp_path, plex={"url": plex.url, "token": TOKEN, "timeout": 5},
                             sync={"interval": 60}, artwork={"push": False}, index={"enabled": False})
    core = build_core(settings)
    sync = build_sync(settings, core, forget=lambda scene_id: None)
    try:
        sync.cycle()
        fake_stash.library.update_scene("2", title="Retitled", updated_at=LATER)
        fake_stash.standin.reset_counts()
        report = sync.cycle()
        assert fake_stash.standin.counts["op:S2PSceneIds"] == 1
        assert report.changed == 1 and plex.refreshed == [plex.items_by_scene["2"].rating_key]
    finally:
        sync.close()
        core.stop()
