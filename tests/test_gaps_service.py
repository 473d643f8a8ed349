"""The gap service with its Plex side replaced by plain objects: failures,
interruption and rate-limited refreshes, without any servers."""

from __future__ import annotations

import time

import pytest

from s2p.config import Settings
from s2p.gaps import store as db
from s2p.pms.models import PlexItem, PlexPart, PlexSection
from s2p.pms.library import ItemGone
from s2p.gaps.records import STALE, Gap
from s2p.gaps.service import ComparisonFailed, GapService, Interrupted
from s2p.gaps.store import GapStore
from s2p.pms.connect import PlexUnavailable
from s2p.stash.errors import StashUnavailable
from s2p.stash.models import SceneSummary, VideoFile

IDENT = "tv.plex.agents.custom.s2p"
TOKEN = "plex-token-that-must-not-leak"


class FakeLibrary:
    def __init__(self, items, *, fail_refresh=None, on_page=None):
        self._items = items
        self.refreshed: list[str] = []
        self._fail_refresh = fail_refresh or {}
        self._on_page = on_page

    def sections(self):
        return [PlexSection("1", "Scenes", ("/plex",), IDENT)]

    def items(self, section):
        for start in range(0, len(self._items), 2):
            if self._on_page:
                self._on_page()
            yield self._items[start:start + 2]

    def refresh(self, rating_key):
        error = self._fail_refresh.get(rating_key)
        if error:
            raise error
        self.refreshed.append(rating_key)


def scene(scene_id: str, path: str) -> SceneSummary:
    return SceneSummary(id=scene_id, title=f"S{scene_id}", updated_at="2024-01-01T00:00:00Z",
                        files=(VideoFile(path=path, size=10),))


def make(tmp_path, library, scenes, **gaps) -> GapService:
    settings = Settings.model_validate({"plex": {"url": "http://plex.invalid:32400", "token": TOKEN},
                                        "state": {"dir": str(tmp_path)}, "gaps": gaps})
    service = GapService(settings, store=GapStore(tmp_path), inventory=lambda: iter(scenes),
                         path_map=settings.path_map(), plex_factory=lambda: library)
    assert service.open()
    return service


def test_a_stash_failure_is_recorded_and_keeps_the_last_records(tmp_path):
    items = [PlexItem("1", "a", f"{IDENT}://movie/1", "1", (PlexPart("/plex/only.mp4", 5),))]
    service = make(tmp_path, FakeLibrary(items), [scene("1", "/plex/a.mp4")])
    first = service.compare()
    assert first.stats["plex_only"] == 1
    service._inventory = lambda: (_ for _ in ()).throw(StashUnavailable("Stash timed out"))
    with pytest.raises(ComparisonFailed, match="Stash timed out"):
        service.compare()
    report = service.report()
    assert report["last_run"]["status"] == "failed" and report["last_run"]["error"] == "Stash timed out"
    assert report["counts"]["plex_only"] == 1
    service.stop()


def test_secrets_never_reach_the_run_history(tmp_path):
    class Leaky(FakeLibrary):
        def sections(self):
            raise RuntimeError(f"GET http://plex/?X-Plex-Token={TOKEN} failed")

    service = make(tmp_path, Leaky([]), [])
    with pytest.raises(ComparisonFailed):
        service.compare()
    error = service.report()["last_run"]["error"]
    assert TOKEN not in error and "***leak" in error
    service.stop()


def test_stopping_interrupts_a_comparison_between_pages(tmp_path):
    items = [PlexItem(str(i), "x", "local://1", "1", (PlexPart(f"/plex/{i}.mp4", i),)) for i in range(10)]
    service = None

    def stop_after_first_page():
        if library.pages:
            service._stop.set()
        library.pages += 1

    library = FakeLibrary(items, on_page=stop_after_first_page)
    library.pages = 0
    service = make(tmp_path, library, [])
    with pytest.raises(Interrupted):
        service.compare()
    runs = service.store.read(lambda c: db.last_runs(c, 1))
    assert runs[0]["status"] == "interrupted"
    assert service.store.read(lambda c: db.counts(c, "all")) == {}
    service.store.close()


def _stale(service, keys: list[str]) -> None:
    gaps = [Gap(STALE, k, "changed", f"v{k}", rating_key=f"rk{k}", scene_id=k,
                detail={"updated_at": "2024-01-01T00:00:00Z", "rating_keys": [f"rk{k}"]}) for k in keys]
    service.store.call(lambda c: db.upsert_gaps(c, gaps, 1.0, run=1))


def test_refreshes_are_spaced_skip_gone_items_and_happen_once_per_change(tmp_path):
    library = FakeLibrary([], fail_refresh={"rk2": ItemGone("Plex no longer has item rk2")})
    service = make(tmp_path, library, [], refresh_stale=True, refresh_per_minute=600)
    _stale(service, ["1", "2", "3"])
    began = time.monotonic()
    assert service.refresh_stale() == 3
    assert time.monotonic() - began >= 0.2  # 600 a minute: 0.1 s apart
    assert library.refreshed == ["rk1", "rk3"]
    assert service.refresh_stale() == 0 and library.refreshed == ["rk1", "rk3"]
    # The scene changes again: one more refresh.
    service.store.call(lambda c: db.upsert_gaps(c, [Gap(STALE, "1", "changed again", "v1b", rating_key="rk1",
                                                        detail={"rating_keys": ["rk1"]})], 2.0, run=2))
    assert service.refresh_stale() == 1 and library.refreshed == ["rk1", "rk3", "rk1"]
    service.stop()


def test_refreshes_stop_when_plex_is_unreachable_and_retry_later(tmp_path):
    library = FakeLibrary([], fail_refresh={"rk1": PlexUnavailable("cannot reach Plex")})
    service = make(tmp_path, library, [], refresh_stale=True, refresh_per_minute=600)
    _stale(service, ["1", "2"])
    assert service.refresh_stale() == 0 and library.refreshed == []
    library._fail_refresh = {}
    assert service.refresh_stale() == 2
    service.stop()


def test_refreshes_are_off_unless_asked_for(tmp_path):
    library = FakeLibrary([])
    service = make(tmp_path, library, [])
    _stale(service, ["1"])
    assert service.refresh_stale() == 0 and library.refreshed == []
    service.stop()


def test_a_fetch_of_the_current_version_ends_a_stale_record_at_once(tmp_path):
    service = make(tmp_path, FakeLibrary([]), [])
    _stale(service, ["1", "2"])
    versions = {"1": "2024-01-01T00:00:00Z", "2": "2023-12-01T00:00:00Z"}
    service._version_of = versions.get
    service.observe_served("1")  # Plex got the version the record is about
    service.observe_served("2")  # Plex got an older one (from a cache): still stale
    service.store.flush()
    resolved = service.store.read(lambda c: db.list_gaps(c, kinds=[STALE], state="resolved"))
    assert [(g["key"], g["resolution"]) for g in resolved] == [("1", "Plex fetched the current version")]
    served = service.store.read(db.served_times)
    assert served["2"].served_version == "2023-12-01T00:00:00Z" and served["1"].served_at > 0
    service.stop()


def test_stash2plex_sync_times_count_and_a_bad_file_is_a_note_not_a_failure(tmp_path):
    import json

    from s2p.gaps.syncfile import load_sync_timestamps

    items = [PlexItem(f"rk{i}", "x", f"{IDENT}://movie/{i}", "1", (PlexPart(f"/plex/{i}.mp4", 10),))
             for i in (1, 2)]
    scenes = [scene("1", "/plex/1.mp4"), scene("2", "/plex/2.mp4")]
    sync = tmp_path / "sync_timestamps.json"
    # Stash2Plex pushed scene 1 after its change (2024-01-01), scene 2 before it.
    sync.write_text(json.dumps({"1": 1704067300.5, "2": 1700000000, "x": "junk"}), encoding="utf-8")
    service = make(tmp_path / "state", FakeLibrary(items), scenes, sync_timestamps=str(sync))
    result = service.compare()
    assert [g["scene_id"] for g in service.report(kinds=[STALE])["gaps"]] == ["2"]
    assert result.problems == [f"[gaps] sync_timestamps {sync}: 1 entry ignored (not scene id -> epoch seconds)"]
    service.stop()

    assert load_sync_timestamps("") == ({}, None)
    times, problem = load_sync_timestamps(str(tmp_path / "missing.json"))
    assert times == {} and "does not exist" in problem
    sync.write_text("{not json", encoding="utf-8")
    times, problem = load_sync_timestamps(str(sync))
    assert times == {} and "not valid JSON" in problem
    sync.write_text("[1, 2]", encoding="utf-8")
    assert "not a JSON object" in load_sync_timestamps(str(sync))[1]


def test_the_served_memo_stays_bounded_over_a_long_scan(tmp_path, monkeypatch):
    from s2p.gaps import service as gaps_service

    monkeypatch.setattr(gaps_service, "SERVED_MEMORY", 50)
    service = make(tmp_path, FakeLibrary([]), [])
    now = [1000.0]
    service._clock = lambda: now[0]
    service._version_of = lambda scene_id: "2024-01-01T00:00:00Z"
    for i in range(400):
        now[0] += 1.0  # a scan that fetches one scene a second
        service.observe_served(str(i))
    assert len(service._last_served) <= 50 + gaps_service.SERVED_RESOLUTION
    service.store.flush()
    assert len(service.store.read(db.served_times)) == 400  # every fetch was still recorded
    service.stop()


def test_an_edit_sync_gave_up_on_is_in_the_report_until_plex_fetches_the_scene(tmp_path):
    service = make(tmp_path, FakeLibrary([]), [])
    service.observe_undelivered("4", "live sync gave up after 10 attempts: Plex answered 500")
    service.store.flush()
    [gap] = service.store.read(lambda c: db.list_gaps(c, kinds=[STALE]))
    assert (gap["key"], gap["scene_id"]) == ("4", "4") and "gave up after 10 attempts" in gap["reason"]
    service.observe_served("4")  # Plex came for it after all
    service.store.flush()
    assert service.store.read(lambda c: db.list_gaps(c, kinds=[STALE])) == []
    resolved = service.store.read(lambda c: db.list_gaps(c, kinds=[STALE], state="resolved"))
    assert [(g["key"], g["resolution"]) for g in resolved] == [("4", "Plex fetched it")]


# ---------------------------------------------------------------- records that must end


class MachineLibrary(FakeLibrary):
    def machine_identifier(self):
        return "plex-machine-1"


def _no_match(**hints):
    from s2p.match.cascade import MatchOutcome
    from s2p.match.query import MatchQuery

    return MatchOutcome(MatchQuery(kind=1, **hints), reason="no scene found")


def test_scan_records_end_unless_they_name_a_file_plex_has_or_came_from_plex(tmp_path):
    now = [1000.0]
    settings = Settings.model_validate({"plex": {"url": "http://plex.invalid:32400", "token": TOKEN},
                                        "state": {"dir": str(tmp_path)}})
    items = [PlexItem("1", "a", "local://1", "1", (PlexPart("/plex/Studio/kept.mp4", 5),))]
    service = GapService(settings, store=GapStore(tmp_path), inventory=lambda: iter([]),
                         path_map=settings.path_map(), plex_factory=lambda: MachineLibrary(items),
                         clock=lambda: now[0])
    assert service.open()
    service.compare()  # learns Plex's machine identifier
    for hints in [dict(filename="Studio/kept.mp4"),  # relative, and Plex has it: stays
                  dict(filename="Studio/left.mp4"),  # relative, and Plex has no such file: ends
                  dict(filename="'; DROP TABLE gaps; --"),  # junk naming no file: ends
                  dict(filename="../../etc/passwd"),  # never recorded at all
                  dict(title="A Show", client_identifier="plex-machine-1"),  # from Plex: stays
                  dict(title="'; DROP TABLE gaps", client_identifier="curl")]:  # not from Plex: ends
        service.observe_match(_no_match(**hints))
    service.store.flush()
    before = {g["plex_path"] or g["title"] for g in service.report(kinds=("no_match",))["gaps"]}
    assert before == {"Studio/kept.mp4", "Studio/left.mp4", "'; DROP TABLE gaps; --", "A Show",
                      "'; DROP TABLE gaps"}
    now[0] += 60
    service.compare()
    after = {g["plex_path"] or g["title"] for g in service.report(kinds=("no_match",))["gaps"]}
    assert after == {"Studio/kept.mp4", "A Show"}
    service.stop()


def test_one_kind_is_dismissed_in_one_step(tmp_path):
    items = [PlexItem(str(i), "x", "local://1", "1", (PlexPart(f"/plex/{i}.mp4", i),)) for i in range(3)]
    service = make(tmp_path, FakeLibrary(items), [scene("9", "/plex/stash-only.mp4")])
    service.compare()
    def counts():
        return {kind: n for kind, n in service.report()["counts"].items() if n}

    assert counts() == {"plex_only": 3, "stash_only": 1}
    assert service.dismiss_kind("plex_only") == 3
    assert counts() == {"stash_only": 1}
    assert service.report(state="dismissed")["total"] == 3
    assert service.dismiss_kind("plex_only") == 0
    service.stop()


def test_the_dismiss_all_route_answers_json_and_refuses_bad_kinds_and_other_sites(tmp_path):
    import falcon
    import falcon.testing

    from s2p.web.errors import BadRequest
    from s2p.web.gaps import GapsDismissKind, GapsPage

    items = [PlexItem(str(i), "x", "local://1", "1", (PlexPart(f"/plex/{i}.mp4", i),)) for i in range(2)]
    service = make(tmp_path, FakeLibrary(items), [])
    service.compare()
    app = falcon.App()
    app.add_error_handler(BadRequest, lambda req, resp, ex, params: (
        setattr(resp, "status", falcon.HTTP_400), setattr(resp, "media", {"error": str(ex)})))
    app.add_route("/gaps", GapsPage(service))
    app.add_route("/gaps/dismiss", GapsDismissKind(service))
    client = falcon.testing.TestClient(app)
    page = client.simulate_get("/gaps", params={"kind": "plex_only"}).text
    assert "Dismiss all 2 of this kind" in page and 'action="/gaps/dismiss?kind=plex_only' in page
    assert client.simulate_post("/gaps/dismiss", params={"kind": "nonsense"}).status_code == 400
    hostile = client.simulate_post("/gaps/dismiss", params={"kind": "plex_only"},
                                   headers={"Origin": "http://evil.example"})
    assert hostile.status_code == 403 and service.report()["counts"]["plex_only"] == 2
    done = client.simulate_post("/gaps/dismiss", params={"kind": "plex_only"})
    assert done.status_code == 200 and done.json == {"kind": "plex_only", "dismissed": 2}
    back = client.simulate_post("/gaps/dismiss", params={"kind": "plex_only", "back": "/gaps?kind=plex_only"})
    assert back.status_code == 303 and back.headers["location"].endswith("/gaps?kind=plex_only")
    service.stop()
