"""Live sync with the test suite's fake Stash and fake Plex: edits in Stash
reach exactly the Plex items that show them, within a cycle or two."""

from __future__ import annotations

import logging

import pytest

from fakeplex import TOKEN, FakePlex
from helpers import PLEX_ROOT, STASH_ROOT, FakeClock, eventually, make_settings, run, s2p_guid
from s2p.app.runtime import build_core, build_sync
from s2p.pms.connect import connect
from s2p.pms.libraries import PlexLibraries
from s2p.scenes.index import TITLE
from s2p.sync.service import BACKOFF, FETCH_WAIT, MAX_ASKS, MAX_ATTEMPTS, SyncService
from s2p.sync.store import SyncStore

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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


# ---------------------------------------------------------------- Plex's libraries change; s2p dies mid-way

class Sync:
    """A sync service on a clock the test moves, its undelivered edits recorded."""

    def __init__(self, fake_stash, plex, tmp_path, clock: FakeClock, token: str = TOKEN):
        self.settings = make_settings(fake_stash.url, tmp_path, plex={"url": plex.url, "token": token, "timeout": 5},
                                      sync={"interval": 60}, artwork={"push": False}, index={"enabled": False})
        self.core = build_core(self.settings)
        self.undelivered: list[tuple[str, str]] = []
        settings = self.settings
        self.libraries = PlexLibraries(lambda: connect(settings.plex, settings.state_dir),
                                       settings.provider.identifier, settings.plex.sections, clock=clock,
                                       user="live sync")
        self.service = SyncService(settings, self.core.stash, store=SyncStore(settings.state_dir, clock=clock),
                                   plex=self.libraries, forget=lambda scene_id: None,
                                   undelivered=lambda scene_id, why: self.undelivered.append((scene_id, why)),
                                   clock=clock)

    def close(self) -> None:
        self.service.close()
        self.core.stop()


@pytest.fixture
def clock():
    return FakeClock(1_000_000.0)


@pytest.mark.integration
def test_an_empty_first_list_of_libraries_loses_no_edit_once_plex_heals(fake_stash, plex, tmp_path, clock, caplog):
    caplog.set_level(logging.INFO, logger="s2p")
    plex.sections_hidden = True  # Plex answers /library/sections with an empty list
    sync = Sync(fake_stash, plex, tmp_path, clock)
    try:
        sync.service.cycle()  # the starting point
        for n, scene_id in enumerate(("1", "3", "5")):
            fake_stash.library.update_scene(scene_id, title=f"Retitled {n}", updated_at=LATER)
        clock.now += 1
        report = sync.service.cycle()
        assert report.changed == 3 and plex.refreshed == []
        assert sync.service.store.pending() == 3  # kept, not dropped as "not in Plex"
        assert any(r.levelno == logging.WARNING and "Plex names no library" in r.getMessage() for r in caplog.records)
        plex.sections_hidden = False  # Plex heals
        clock.now += BACKOFF.cap  # past any backoff
        sync.service.cycle()
        items = plex.items_by_scene
        assert sorted(plex.refreshed) == sorted(items[s].rating_key for s in ("1", "3", "5"))
        assert "live sync looks in the Plex libraries 'Scenes' (1)" in caplog.text
    finally:
        sync.close()


@pytest.mark.integration
def test_a_library_switched_to_s2p_after_start_gets_its_refreshes(fake_stash, plex, tmp_path, clock):
    # Scene 6's only Plex item is in the library on another agent.
    other = plex.add_item(2, "Beach Day (Ümlaut)", ["/films/6.mkv"], guid=s2p_guid("6"))
    sync = Sync(fake_stash, plex, tmp_path, clock)
    try:
        sync.service.cycle()
        fake_stash.library.update_scene("6", title="Before the switch", updated_at=LATER)
        clock.now += 1
        sync.service.cycle()
        # Plex's libraries were listed after the edit: scene 6 is truly not in s2p's libraries.
        assert plex.refreshed == [] and sync.service.store.pending() == 0
        plex.sections[2].agent = "tv.plex.agents.custom.s2p"  # the library is switched to s2p's agent
        clock.now += 1
        fake_stash.library.update_scene("6", title="After the switch", updated_at="2025-07-01T10:00:00+00:00")
        sync.service.cycle()
        assert plex.refreshed == [other.rating_key]
    finally:
        sync.close()


@pytest.mark.integration
def test_an_edit_survives_a_kill_between_the_refresh_request_and_plex_fetching_it(fake_stash, plex, tmp_path,
                                                                                  clock):
    first = Sync(fake_stash, plex, tmp_path, clock)
    first.service.cycle()
    fake_stash.library.update_scene("2", title="Retitled", updated_at=LATER)
    clock.now += 1
    first.service.cycle()
    item = plex.items_by_scene["2"].rating_key
    assert plex.refreshed == [item]
    first.close()  # killed before Plex came for the metadata: nothing told the store

    second = Sync(fake_stash, plex, tmp_path, clock)  # a new process on the same file
    try:
        [entry] = second.service.store.queue.entries()
        assert entry.item == "2" and entry.held == 1
        clock.now += FETCH_WAIT + 1  # Plex never came: asked again
        second.service.cycle()
        assert plex.refreshed == [item, item]
        second.service.fetched("2")  # Plex reads scene 2's metadata from s2p
        assert second.service.store.pending() == 0 and second.service.confirmed_total == 1
        clock.now += FETCH_WAIT + 1
        second.service.cycle()
        assert plex.refreshed == [item, item]  # delivered: never asked again
    finally:
        second.close()


@pytest.mark.integration
def test_plex_that_never_fetches_is_asked_a_bounded_number_of_times_then_reported(fake_stash, plex, tmp_path,
                                                                                  clock):
    sync = Sync(fake_stash, plex, tmp_path, clock)
    try:
        sync.service.cycle()
        fake_stash.library.update_scene("2", title="Retitled", updated_at=LATER)
        for _ in range(MAX_ASKS + 3):
            clock.now += FETCH_WAIT + 1
            sync.service.cycle()
        assert plex.refreshed == [plex.items_by_scene["2"].rating_key] * MAX_ASKS
        assert sync.service.store.pending() == 0
        assert [scene for scene, _ in sync.undelivered] == ["2"]
    finally:
        sync.close()


@pytest.mark.integration
def test_an_edit_that_failed_ten_times_lands_in_the_gap_report(fake_stash, plex, tmp_path, clock):
    sync = Sync(fake_stash, plex, tmp_path, clock)
    try:
        sync.service.cycle()
        fake_stash.library.update_scene("2", title="Retitled", updated_at=LATER)
        plex.fail_matching = [(r"PUT /library/metadata/\d+/refresh", 500)] * 20
        for _ in range(MAX_ATTEMPTS + 2):
            clock.now += BACKOFF.cap * 1.01
            sync.service.cycle()
        assert plex.refreshed == [] and sync.service.store.pending() == 0
        [(scene_id, why)] = sync.undelivered
        assert scene_id == "2" and f"gave up after {MAX_ATTEMPTS} attempts" in why
        assert TOKEN not in why
    finally:
        sync.close()


@pytest.mark.integration
def test_a_wrong_plex_token_is_one_clear_warning_with_the_fix(fake_stash, plex, tmp_path, clock, caplog):
    caplog.set_level(logging.INFO, logger="s2p")
    sync = Sync(fake_stash, plex, tmp_path, clock)
    try:
        sync.service.cycle()
        fake_stash.library.update_scene("1", title="Retitled", updated_at=LATER)
        fake_stash.library.update_scene("3", title="Retitled", updated_at=LATER)
        plex.token = "a-new-token-s2p-does-not-know"  # the owner changed it: Plex now refuses s2p's
        clock.now += 1
        sync.service.cycle()
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings  # one line a cycle, not one per edit
        assert "Plex refused the token" in warnings[0] and "Fix: set [plex] token" in warnings[0]
        assert TOKEN not in caplog.text
        assert sync.service.store.pending() == 2  # both wait for a token that works
        plex.token = TOKEN
        clock.now += BACKOFF.cap
        sync.service.cycle()
        assert sorted(plex.refreshed) == sorted(plex.items_by_scene[s].rating_key for s in ("1", "3"))
    finally:
        sync.close()
