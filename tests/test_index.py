"""The scene index: what it holds, how it stays current, and that matching
from it asks Stash nothing.  The HTTP tests run the real app against the
fake Stash."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import PLEX_ROOT, STASH_ROOT
from s2p.config import IndexSettings, Settings
from s2p.scenes.index import ID, TITLE, SceneIndex, minus_seconds
from s2p.scenes.index import summary as record_summary
from s2p.paths.pathmap import PathMap, PathRule, Rewrite
from s2p.stash.api import StashAPI
from s2p.stash.client import StashClient
from s2p.stash.models import SceneSummary

from fakestash import SchemaCheckingExecutor


def summary_of(scene_id, *paths, title=None, updated_at="2024-01-01T00:00:00+00:00", oshash=None, md5=None):
    fingerprints = [{"type": k, "value": v} for k, v in (("oshash", oshash), ("md5", md5)) if v]
    return SceneSummary.model_validate({
        "id": scene_id, "title": title, "date": "2023-05-12", "updated_at": updated_at,
        "files": [{"path": p, "fingerprints": fingerprints} for p in paths]})


SYMMETRIC = PathMap([PathRule("lib", Rewrite.compile("^/s/(.*)$", r"/p/\1"), Rewrite.compile("^/p/(.*)$", r"/s/\1"))])
# Plex sees two mounts that Stash keeps in one folder; only one comes back.
ASYMMETRIC = PathMap([
    PathRule("a", Rewrite.compile("^/s/a/(.*)$", r"/p/one/\1"), Rewrite.compile("^/p/one/(.*)$", r"/s/a/\1")),
    PathRule("b", Rewrite.compile("^/s/b/(.*)$", r"/p/two/\1"), Rewrite.compile("^/p/zzz/(.*)$", r"/s/b/\1")),
])


def build(scenes, path_map=PathMap()) -> SceneIndex:
    index = SceneIndex(None, path_map, IndexSettings())
    assert index.load([scenes])
    return index


# ---------------------------------------------------------------- contents and lookups

def test_lookups_by_name_fingerprint_and_id():
    index = build([
        summary_of("1", "/s/A/scene.mp4", oshash="00000000000000ff", md5="a" * 32, title="One"),
        summary_of("2", "/s/B/Scene.MP4"),
        summary_of("3", "/s/C/other.mkv", "/s/C/other copy.mkv"),
    ])
    snap = index.snapshot()
    assert sorted(s[ID] for s in snap.named("SCENE.mp4")) == ["1", "2"]  # compared without case
    assert [s[ID] for s in snap.named("other copy.mkv")] == ["3"]
    assert snap.named("missing.mp4") == []
    assert [s[ID] for s in snap.with_hash("oshash", "FF")] == ["1"]  # as Plex may send it, unpadded
    assert [s[ID] for s in snap.with_hash("md5", "A" * 32)] == ["1"]
    assert snap.with_hash("oshash", "not hex") == []
    one = record_summary(snap.scene("1"))
    assert (one.title, one.date, one.files[0].path, one.files[0].basename) == ("One", "2023-05-12", "/s/A/scene.mp4",
                                                                             "scene.mp4")
    assert one.files[0].fingerprint("oshash") == "00000000000000ff"
    stats = index.stats()
    assert (stats["ready"], stats["scenes"], stats["files"]) == (True, 3, 4)


def test_a_file_claimed_by_two_scenes_is_in_both():
    snap = build([summary_of("1", "/s/A/x.mp4", oshash="1"), summary_of("2", "/s/A/x.mp4", oshash="1")]).snapshot()
    assert sorted(s[ID] for s in snap.named("x.mp4")) == ["1", "2"]
    assert sorted(s[ID] for s in snap.with_hash("oshash", "1")) == ["1", "2"]


def test_plex_paths_are_kept_only_where_the_rules_do_not_come_back():
    scenes = [summary_of("1", "/s/a/x.mp4"), summary_of("2", "/s/b/y.mp4"), summary_of("3", "/elsewhere/z.mp4")]
    assert build(scenes, SYMMETRIC).snapshot().plex_paths == {}
    snap = build(scenes, ASYMMETRIC).snapshot()
    assert list(snap.plex_paths) == ["/p/two/y.mp4"]
    assert [s[ID] for s in snap.with_plex_path("/p/two/y.mp4")] == ["2"]
    assert [s[ID] for s in snap.with_plex_path("\\p\\two\\y.mp4")] == ["2"]  # any spelling of the path


def test_unicode_forms_share_a_bucket():
    snap = build([summary_of("1", "/s/Cafe\u0301.mp4")]).snapshot()  # NFD on disk
    assert [s[ID] for s in snap.named("Café.mp4")] == ["1"]


def test_a_reload_reuses_unchanged_records_and_drops_deleted_scenes():
    index = build([summary_of("1", "/s/a.mp4"), summary_of("2", "/s/b.mp4")])
    before = index.snapshot()
    assert index.load([[summary_of("1", "/s/a.mp4"), summary_of("3", "/s/c.mp4")]])
    after = index.snapshot()
    assert after.scene("1") is before.scene("1")  # the same object: no second copy
    assert after.scene("2") is None and after.named("b.mp4") == []
    assert before.scene("2") is not None  # a reader holding the old index still sees it whole


def test_records_are_not_tracked_by_the_garbage_collector():
    import gc

    snap = build([summary_of("1", "/s/a.mp4", oshash="ab", md5="c" * 32)]).snapshot()
    for _ in range(3):  # a tuple is untracked once the tuples inside it are: a pass per level
        gc.collect()
    record = snap.scene("1")
    assert not gc.is_tracked(record) and not gc.is_tracked(record[4][0])


@pytest.mark.parametrize("stamp, expected", [
    ("2024-03-31T03:30:00+02:00", "2024-03-31T02:30:00+02:00"),  # same offset kept: Stash compares text
    ("2024-01-01T00:10:00Z", "2023-12-31T23:10:00Z"),
    ("2024-01-01T00:10:00.123456789-05:00", "2023-12-31T23:10:00-05:00"),
    ("2024-01-01 00:10:00", "2023-12-31T23:10:00"),  # a space would sort below 'T': written with 'T'
    ("yesterday", None),
])
def test_minus_seconds_keeps_stashs_spelling(stamp, expected):
    assert minus_seconds(stamp, 3600) == expected


# ---------------------------------------------------------------- against the fake Stash

def api_for(url: str, **stash) -> StashAPI:
    settings = Settings.model_validate({"stash": {"url": url, "api_key": "stash-test-key-0123456789abcdef",
                                                  "timeout": 2, **stash}})
    return StashAPI(StashClient(settings.stash))


@pytest.mark.integration
def test_paging_by_id_survives_a_deletion_between_pages(fake_stash):
    class DeleteAfterFirstPage(SchemaCheckingExecutor):
        def __call__(self, document, variables, operation_name):
            result = super().__call__(document, variables, operation_name)
            self.library.remove_scene("2")  # scene 4 would slide into page 1's window
            return result

    fake_stash.standin.executor = DeleteAfterFirstPage(fake_stash.library)
    # A page size below the minimum, to page often.
    index = SceneIndex(api_for(fake_stash.url), PathMap(), IndexSettings.model_construct(page_size=3))
    index.load()
    assert sorted(index.snapshot().scenes, key=int) == ["1", "2", "3", "4", "5", "6", "7", "8"]


@pytest.mark.integration
def test_incremental_refresh_finds_changes_since_the_newest_seen_minus_the_overlap(fake_stash):
    library = fake_stash.library
    for scene_id in library.scenes:
        library.update_scene(scene_id, updated_at="2024-06-01T10:00:00+02:00")
    library.update_scene("8", updated_at="2024-06-01T12:00:00+02:00")
    index = SceneIndex(api_for(fake_stash.url), PathMap(), IndexSettings(overlap=3600))
    index.load()
    assert index.snapshot().newest == "2024-06-01T12:00:00+02:00"
    # Renamed within the overlap (a clock change can make a later edit look older)...
    library.update_scene("3", updated_at="2024-06-01T11:30:00+02:00",
                         files=[{**library.scenes["3"]["files"][0], "path": f"{STASH_ROOT}/Moved/Café Crème.mp4"}])
    # ...and edited before it: not asked for (the full reload catches those).
    library.update_scene("4", updated_at="2024-06-01T10:30:00+02:00", title="Changed")
    library.remove_scene("5")
    fake_stash.standin.reset_counts()
    assert index.refresh() == 1
    snap = index.snapshot()
    assert [f.path for f in record_summary(snap.scene("3")).files] == [f"{STASH_ROOT}/Moved/Café Crème.mp4"]
    assert snap.scene("4")[TITLE] is None
    assert snap.scene("5") is not None  # deletions wait for the full reload
    assert fake_stash.standin.counts["op:S2PSceneSummaries"] == 1
    assert index.stats()["last_refresh_changes"] == 1 and index.stats()["refreshed_at"] is not None
    assert index.refresh() == 0  # the overlap brings scene 3 again: de-duplicated, unchanged
    index.load()
    assert index.snapshot().scene("5") is None and index.snapshot().scene("4")[TITLE] == "Changed"


@pytest.mark.integration
def test_the_first_load_is_retried_until_stash_answers(fake_stash):
    fake_stash.standin.fail("error")
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        if len(pauses) == 2:
            fake_stash.standin.heal()
        return False

    # A short cool-down: the circuit breaker opens while Stash fails.
    index = SceneIndex(api_for(fake_stash.url, breaker_cooldown=0.2), PathMap(), IndexSettings(), sleep=sleep)
    index.load_until_ready()
    assert index.ready and len(index.snapshot().scenes) == 8
    assert len(pauses) >= 2 and pauses[1] > pauses[0]  # growing pauses


def test_served_from_the_index_with_no_stash_query(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url)
    assert s2p.services.index.wait_ready(10)
    fake_stash.standin.reset_counts()
    hints = [
        {"filename": "Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4"},
        {"filename": f"{PLEX_ROOT}/Harbour Films/Don't Stop [Director's Cut] (2022).mkv"},
        {"filename": "Harbour Films/extras/scene.mp4"},
        {"filename": "C:\\Plex\\Studio Ümlaut\\extras\\scene.mp4"},
        {"filename": "Harbour Nights/Part 1 [2160p].mp4"},
        {"guid": "tv.plex.agents.custom.s2p://movie/8"},
    ]
    for body in hints:
        mc = s2p.match(type=1, **body).json()["MediaContainer"]
        assert mc["size"] == 1, body
    # Only the metadata prefetched for the decided scenes reached Stash, as
    # findScenes(ids:) loads; no lookup did.
    counts = fake_stash.standin.counts
    assert fake_stash.standin.graphql_requests == counts["op:S2PFindScenes"] <= len(hints)


def test_index_keeps_matching_while_stash_is_down(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5, "connect_timeout": 0.5})
    assert s2p.services.index.wait_ready(10)
    fake_stash.stop()
    started = time.monotonic()
    found = s2p.match(type=1, filename="Harbour Films/extras/scene.mp4").json()["MediaContainer"]
    assert [m["ratingKey"] for m in found["Metadata"]] == ["5"]
    missing = s2p.match(type=1, filename="Nowhere/unknown.mp4").json()["MediaContainer"]
    assert missing["size"] == 0
    assert time.monotonic() - started < 3


def test_a_file_newer_than_the_index_is_asked_once_and_brings_a_refresh(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url)
    index = s2p.services.index
    assert index.wait_ready(10)
    fake_stash.library.add_scene("9", title="Brand New", files=[f"{STASH_ROOT}/New/brand new.mp4"],
                                 updated_at="2030-01-01T00:00:00+00:00")
    fake_stash.standin.reset_counts()
    mc = s2p.match(type=1, filename="New/brand new.mp4").json()["MediaContainer"]
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["9"]
    deadline = time.monotonic() + 10
    while index.snapshot().scene("9") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.snapshot().scene("9") is not None  # the hit triggered a refresh
    # A name Stash does not know either is asked once, then remembered.
    fake_stash.standin.reset_counts()
    for _ in range(3):
        assert s2p.match(type=1, filename="Nowhere/unknown.mp4").json()["MediaContainer"]["size"] == 0
    assert fake_stash.standin.counts["op:S2PSceneSummaries"] == 1


def test_matching_falls_back_to_stash_while_the_first_load_runs(start_s2p, fake_stash):
    gate = threading.Event()

    class SlowSummaries(SchemaCheckingExecutor):
        def __call__(self, document, variables, operation_name):
            if "id" in ((variables or {}).get("scene_filter") or {}) or (
                    operation_name == "S2PSceneSummaries" and not (variables or {}).get("scene_filter")):
                gate.wait(10)  # the index's pages wait; path lookups do not
            return super().__call__(document, variables, operation_name)

    fake_stash.standin.executor = SlowSummaries(fake_stash.library)
    s2p = start_s2p(fake_stash.url, wait_for_index=False)
    try:
        assert not s2p.services.index.ready
        mc = s2p.match(type=1, filename="Harbour Films/extras/scene.mp4").json()["MediaContainer"]
        assert [m["ratingKey"] for m in mc["Metadata"]] == ["5"]
        assert "still loading" in s2p.services.matcher.source.describe()
    finally:
        gate.set()
    assert s2p.services.index.wait_ready(10)


def test_without_the_index_a_hash_is_one_stash_query_that_finds_every_owner(start_s2p, fake_stash):
    library = fake_stash.library
    oshash = library.scenes["1"]["files"][0]["oshash"]
    library.add_scene("9", title="Copy", files=[{"path": f"{STASH_ROOT}/Copy/office.mp4", "oshash": oshash}])
    s2p = start_s2p(fake_stash.url, index={"enabled": False}, debug={"enabled": True})
    fake_stash.standin.reset_counts()
    explained = s2p.get("/debug/match", params={"ohash": oshash}).json()
    assert explained["source"] == "Stash queries"
    assert {c["scene"] for c in explained["candidates"]} == {"1", "9"} and explained["decision"] is None
    assert fake_stash.standin.graphql_requests == 1
