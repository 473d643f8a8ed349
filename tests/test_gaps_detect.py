"""The pure comparison, on generated libraries with known gaps of every kind."""

from __future__ import annotations

import random
import unicodedata

import pytest

from s2p.config import PathRuleSettings, build_path_map
from s2p.demo.library import generate
from s2p.pms.models import PlexItem, PlexPart, PlexSection
from s2p.gaps.detect import (Comparison, StashFile, StashScene, SyncTimes,
                             observation, path_key, settle_observations, staleness, stash_time)
from s2p.gaps.fingerprint import SectionFiles, oshash
from s2p.pms.library import choose_sections
from s2p.gaps.records import AMBIGUOUS, MATCHED_ELSEWHERE, NO_MATCH, PLEX_ONLY, STALE, STASH_ONLY
from s2p.stash.models import SceneSummary

IDENT = "tv.plex.agents.custom.s2p"
STASH = "/volume1/adult"
STASH_WIN = "/volume2/more"

RULES = build_path_map([
    PathRuleSettings(name="nas", stash_to_plex=(f"^{STASH}/(.*)$", "/data/adult/\\1"),
                     plex_to_stash=("^/data/adult/(.*)$", f"{STASH}/\\1")),
    # A Windows Plex: backslashes and a drive letter on one side only.
    PathRuleSettings(name="windows", stash_to_plex=(f"^{STASH_WIN}/(.*)$", "D:\\\\More\\\\\\1"),
                     plex_to_stash=(r"^D:\\More\\(.*)$", f"{STASH_WIN}/\\1")),
])
SECTIONS = [PlexSection("1", "Scenes", ("/data/adult",), IDENT), PlexSection("2", "More", ("D:\\More",), IDENT)]


def guid(scene_id: str) -> str:
    return f"{IDENT}://movie/{scene_id}"


def stash_scenes(library) -> list[StashScene]:
    raw = library.find_scenes(filter={"per_page": -1, "sort": "id"})["scenes"]
    return [StashScene.from_summary(SceneSummary.model_validate(r)) for r in raw]


def plex_path(stash_path: str) -> str:
    translated = RULES.to_plex(stash_path)
    assert translated is not None
    return translated.path


def windowsify(path: str) -> str:
    return path.replace("/", "\\") if path.startswith("D:") else path


class World:
    """A generated Stash library, the Plex library that mirrors it, and the
    gaps injected on purpose (what the comparison must find, no more)."""

    def __init__(self, count: int = 400, seed: int = 3):
        rng = random.Random(seed)
        library = generate(count, seed=seed, root=STASH)
        # Move a tenth of the scenes under the Windows share.
        for scene_id in list(library.scenes)[::10]:
            for f in library.scenes[scene_id]["files"]:
                f["path"] = f["path"].replace(STASH, STASH_WIN, 1)
        self.scenes = stash_scenes(library)
        self.by_id = {s.id: s for s in self.scenes}
        self.items: list[PlexItem] = []
        self.expected: set[tuple[str, str]] = set()
        self.sync: dict[str, SyncTimes] = {}
        ids = [s.id for s in self.scenes]
        rng.shuffle(ids)
        missing, other_agent, wrong_guid, case, unicode_, moved, stale_v, stale_t, fresh_ext = (
            ids[0:5], ids[5:7], ids[7:9], ids[9:11], [], ids[11:13], ids[13:16], ids[16:18], ids[18:19])
        unicode_ = [s.id for s in self.scenes if any(ord(c) > 127 for f in s.files for c in f.path)][:3]
        skip = set(missing)
        for scene in self.scenes:
            if scene.id in skip:
                self.expected.add((STASH_ONLY, scene.id))
                continue
            files = [windowsify(plex_path(f.path)) for f in scene.files]
            sizes = [f.size for f in scene.files]
            item_guid = guid(scene.id)
            if scene.id in other_agent:
                item_guid = f"plex://movie/5d776{scene.id}"
            if scene.id in case:
                files = [p.replace("/data/adult/", "/data/adult/").upper().replace("/DATA/ADULT/", "/data/adult/")
                         if p.startswith("/data") else p.upper().replace("D:\\MORE\\", "D:\\More\\") for p in files]
            if scene.id in unicode_:
                files = [unicodedata.normalize("NFD", p) for p in files]
            if scene.id in moved:
                # Same file name and size, another folder: a move Stash has not seen.
                files = [p.replace("/data/adult/", "/data/adult/Moved/").replace("D:\\More\\", "D:\\More\\Moved\\")
                         for p in files]
            self.items.append(self._item(scene.id, item_guid, files, sizes))
            if scene.id in other_agent:
                self.expected.add((MATCHED_ELSEWHERE, self.items[-1].rating_key))
        # Items whose guid names another scene than the file's.
        a, b = wrong_guid
        self.items = [i if i.rating_key not in (f"rk{a}",) else
                      PlexItem(i.rating_key, i.title, guid(b), i.section, i.parts) for i in self.items]
        self.expected.add((MATCHED_ELSEWHERE, f"rk{a}"))
        # Files Plex has and Stash does not; one outside every path rule.
        for n, path in enumerate(["/data/adult/Extra/not in stash.mp4", "/data/adult/Extra/Ça ne va pas.mkv",
                                  "D:\\More\\Extra\\unknown.wmv", "/srv/elsewhere/orphan.mp4"]):
            item = PlexItem(f"extra{n}", f"Extra {n}", f"local://{n}", "2" if path.startswith("D:") else "1",
                            (PlexPart(path, 1234 + n),))
            self.items.append(item)
            # One record each: s2p cannot match a file Stash lacks, so "not matched by s2p" adds nothing.
            self.expected.add((PLEX_ONLY, path_key(path)))
        # Plex still carries s2p's guid for a scene Stash deleted.
        self.items.append(PlexItem("gone", "Gone", guid("999999"), "1",
                                   (PlexPart("/data/adult/Gone/gone.mp4", 99),)))
        self.expected |= {(MATCHED_ELSEWHERE, "gone"), (PLEX_ONLY, "data/adult/Gone/gone.mp4")}
        # Sync times: versions and times older than updated_at are stale.
        for scene_id in stale_v:
            self.sync[scene_id] = SyncTimes(served_at=stash_time("2030-01-01T00:00:00Z"),
                                            served_version="2023-01-01T00:00:00Z")
            self.expected.add((STALE, scene_id))
        for scene_id in stale_t:
            self.sync[scene_id] = SyncTimes(served_at=stash_time("2023-06-01T00:00:00Z"))
            self.expected.add((STALE, scene_id))
        for scene_id in fresh_ext:
            self.sync[scene_id] = SyncTimes(served_at=stash_time("2023-06-01T00:00:00Z"),
                                            external=stash_time("2030-01-01T00:00:00Z"))
        for scene in self.scenes:
            if scene.id not in self.sync and scene.id not in skip and scene.id not in other_agent:
                self.sync[scene.id] = SyncTimes(served_at=stash_time("2030-01-01T00:00:00Z"),
                                                served_version=scene.updated_at)
        self.case, self.unicode, self.moved = case, unicode_, moved

    def _item(self, scene_id: str, item_guid: str, files: list[str], sizes: list[int | None]) -> PlexItem:
        section = "2" if files[0].startswith("D:") else "1"
        return PlexItem(f"rk{scene_id}", f"Item {scene_id}", item_guid, section,
                        tuple(PlexPart(f, s) for f, s in zip(files, sizes, strict=True)))

    def compare(self, items=None, **kwargs):
        comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync=self.sync, **kwargs)
        comparison.add_scenes(self.scenes)
        pages = items if items is not None else self.items
        for start in range(0, len(pages), 37):  # page by page, as from Plex
            comparison.add_items(pages[start:start + 37])
        return comparison.finish()


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_finds_exactly_the_injected_gaps(world):
    result = world.compare()
    found = {(g.kind, g.key) for g in result.gaps}
    assert found == world.expected
    assert result.stats["plex_items"] == len(world.items)
    assert result.stats["stash_scenes"] == len(world.scenes)
    for kind in (PLEX_ONLY, STASH_ONLY, MATCHED_ELSEWHERE, STALE):
        assert result.stats[kind] == sum(1 for k, _ in world.expected if k == kind) > 0


def test_case_unicode_and_moves_are_not_gaps(world):
    result = world.compare()
    assert world.case and world.unicode and world.moved
    assert result.stats["parts_ignoring_case"] >= len(world.case)
    assert result.stats["parts_by_name_and_size"] == len(world.moved)
    flagged = {g.scene_id for g in result.gaps} | {g.key for g in result.gaps}
    for scene_id in world.case + world.unicode + world.moved:
        assert scene_id not in flagged


def test_every_scene_round_trips_through_the_path_rules(world):
    for scene in world.scenes:
        for file in scene.files:
            there = windowsify(plex_path(file.path))
            back = RULES.to_stash(there)
            assert back is not None and path_key(back.path) == path_key(file.path)


def test_reasons_name_both_sides(world):
    gaps = {(g.kind, g.key): g for g in world.compare().gaps}
    missing = next(g for (k, _), g in gaps.items() if k == STASH_ONLY)
    assert missing.stash_path.startswith((STASH, STASH_WIN)) and missing.plex_path in missing.reason
    assert missing.section in ("Scenes", "More")
    unknown = gaps[(PLEX_ONLY, "data/adult/Extra/not in stash.mp4")]
    assert unknown.reason == (f"Stash has no file at {STASH}/Extra/not in stash.mp4; in Plex: no agent matched it "
                              "(Plex keeps it as local://0)")
    assert "no plex_to_stash path rule" in gaps[(PLEX_ONLY, "srv/elsewhere/orphan.mp4")].reason
    assert "which Stash no longer has" in gaps[(MATCHED_ELSEWHERE, "gone")].reason
    other = next(g for (k, key), g in gaps.items() if k == MATCHED_ELSEWHERE and g.detail["guid"].startswith("plex://"))
    assert "another agent" in other.reason and "its file is scene" in other.reason
    wrong = next(g for g in gaps.values() if g.kind == MATCHED_ELSEWHERE and "belongs to scene" in g.reason)
    assert wrong.rating_key.startswith("rk")
    stale = next(g for g in gaps.values() if g.kind == STALE)
    assert "changed in Stash at" in stale.reason and stale.rating_key


def test_nothing_is_reported_when_plex_mirrors_stash():
    library = generate(150, seed=11, root=STASH)
    scenes = stash_scenes(library)
    items = [PlexItem(f"rk{s.id}", s.title or "", guid(s.id), "1", tuple(PlexPart(plex_path(f.path), f.size)
                                                                       for f in s.files)) for s in scenes]
    comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS,
                            sync={s.id: SyncTimes(served_version=s.updated_at) for s in scenes})
    comparison.add_scenes(scenes)
    comparison.add_items(items)
    result = comparison.finish()
    assert result.gaps == []
    assert result.stats["parts_by_path"] == sum(len(s.files) for s in scenes)


def test_scene_files_outside_every_plex_library_are_not_gaps():
    scenes = [StashScene("1", "In", "2024-01-01T00:00:00Z", (StashFile(f"{STASH}/a/in.mp4", 10),)),
              StashScene("2", "Out", "2024-01-01T00:00:00Z", (StashFile("/elsewhere/out.mp4", 10),)),
              StashScene("3", "Mapped, not a compared library", "2024-01-01T00:00:00Z",
                         (StashFile(f"{STASH_WIN}/x.mp4", 10),))]
    comparison = Comparison(path_map=RULES, identifier=IDENT, sections=[SECTIONS[0]], sync={})
    comparison.add_scenes(scenes)
    result = comparison.finish()
    assert [(g.kind, g.key) for g in result.gaps] == [(STASH_ONLY, "1")]


def test_a_scenes_second_file_that_plex_lacks_is_listed():
    scene = StashScene("7", "Two copies", "2024-01-01T00:00:00Z",
                       (StashFile(f"{STASH}/s/a [1080p].mp4", 10), StashFile(f"{STASH}/s/a [2160p].mp4", 20)))
    comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync={})
    comparison.add_scenes([scene])
    comparison.add_items([PlexItem("1", "a", guid("7"), "1", (PlexPart("/data/adult/s/a [1080p].mp4", 10),))])
    result = comparison.finish()
    [gap] = result.gaps
    assert (gap.kind, gap.key) == (STASH_ONLY, "7") and result.stats["never_served"] == 1
    assert [f["stash"] for f in gap.detail["files"]] == [f"{STASH}/s/a [2160p].mp4"]
    assert gap.plex_path == "/data/adult/s/a [2160p].mp4"
    # With both files in Plex (as two versions of one item), nothing is missing.
    both = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync={})
    both.add_scenes([scene])
    both.add_items([PlexItem("1", "a", guid("7"), "1", (PlexPart("/data/adult/s/a [1080p].mp4", 10),
                                                        PlexPart("/data/adult/s/a [2160p].mp4", 20)))])
    assert both.finish().gaps == []


def test_a_file_whose_relative_path_also_exists_under_another_root_is_listed():
    # The same "Studio/x.mp4" under both Stash roots, same size (a copy); Plex has one of them.
    first = StashFile(f"{STASH}/Studio/x.mp4", 10)
    second = StashFile(f"{STASH_WIN}/Studio/x.mp4", 10)
    for scenes in ([StashScene("8", "x", None, (first,)), StashScene("9", "x copy", None, (second,))],
                   [StashScene("8", "x", None, (first, second))]):  # or one scene with both files
        for plex_has, lacks in ((first, second), (second, first)):
            comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync={})
            comparison.add_scenes(scenes)
            comparison.add_items([PlexItem("1", "x", guid("8"), "1", (PlexPart(plex_path(plex_has.path), 10),))])
            gaps = [g for g in comparison.finish().gaps if g.kind == STASH_ONLY]
            assert [f["stash"] for g in gaps for f in g.detail["files"]] == [lacks.path], (scenes, plex_has)
            assert [g.plex_path for g in gaps] == [plex_path(lacks.path)]
            assert gaps[0].section == ("More" if lacks is second else "Scenes")


def test_a_file_plex_has_through_a_one_way_rule_does_not_hide_the_scenes_other_missing_file():
    # Plex's path for a.mp4 leads back nowhere Stash knows (a rule that does
    # not round-trip), yet Plex has it; the scene's b.mp4 is still missing.
    one_way = build_path_map([PathRuleSettings(name="one way", stash_to_plex=(f"^{STASH}/(.*)$", "/data/adult/\\1"),
                                               plex_to_stash=("^/data/adult/(.*)$", "/elsewhere/\\1"))])
    scene = StashScene("4", "Two files", None, (StashFile(f"{STASH}/s/a.mp4"), StashFile(f"{STASH}/s/b.mp4")))
    comparison = Comparison(path_map=one_way, identifier=IDENT, sections=SECTIONS, sync={})
    comparison.add_scenes([scene])
    comparison.add_items([PlexItem("1", "a", "", "1", (PlexPart("/data/adult/s/a.mp4"),))])
    [gap] = [g for g in comparison.finish().gaps if g.kind == STASH_ONLY]
    assert [f["stash"] for f in gap.detail["files"]] == [f"{STASH}/s/b.mp4"]


def test_a_renamed_file_is_recognised_by_its_oshash(tmp_path):
    media = tmp_path / "media"
    (media / "Studio").mkdir(parents=True)
    data = bytes(range(256)) * 700  # larger than two 64 KiB chunks
    (media / "Studio" / "renamed.mp4").write_bytes(data)
    digest = oshash(media / "Studio" / "renamed.mp4")
    scene = StashScene("5", "Original", "2024-01-01T00:00:00Z",
                       (StashFile(f"{STASH}/Studio/original name.mp4", len(data), digest),))
    local = SectionFiles([str(media)])
    comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync={}, hash_file=local.hash)
    comparison.add_scenes([scene])
    comparison.add_items([PlexItem("1", "x", guid("5"), "1", (PlexPart("/data/adult/Studio/renamed.mp4", 1),))])
    result = comparison.finish()
    assert result.gaps == [] and result.stats["parts_by_oshash"] == 1
    assert local.candidates("/data/adult/../../etc/passwd", SECTIONS[0]) == []


def test_oshash_matches_stash_definition(tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(b"\x01" + b"\x00" * 7 + b"\x02" + b"\x00" * 7)
    # size 16 + head (1 + 2) + tail (1 + 2): the whole file is both head and tail.
    assert oshash(small) == f"{16 + 3 + 3:016x}"
    assert oshash(tmp_path / "missing") is None


# ---------------------------------------------------------------- timestamps and staleness


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T12:00:00Z", 1714564800.0),
    ("2024-05-01T14:00:00+02:00", 1714564800.0),
    ("2024-05-01T12:00:00.123456789Z", 1714564800.123456),
    ("2024-05-01 12:00:00", 1714564800.0),
    ("not a time", None),
    (None, None),
])
def test_stash_time_reads_every_form_stash_writes(text, expected):
    got = stash_time(text)
    assert got == pytest.approx(expected) if expected else got is None


def test_staleness_prefers_the_served_version_over_the_served_time():
    updated = "2024-05-01T12:00:00+00:00"
    later = stash_time("2024-06-01T00:00:00Z")
    # Served after the change, but the cache gave Plex the older version: stale.
    assert staleness(updated, SyncTimes(served_at=later, served_version="2024-04-01T00:00:00Z"))[0] is True
    assert staleness(updated, SyncTimes(served_at=0, served_version=updated))[0] is False
    assert staleness(updated, SyncTimes(served_at=later))[0] is False
    assert staleness(updated, SyncTimes(served_at=stash_time("2024-04-01T00:00:00Z")))[0] is True
    assert staleness(updated, SyncTimes(external=later))[0] is False
    assert staleness(updated, SyncTimes(external=stash_time("2024-01-01T00:00:00Z")))[0] is True
    assert staleness(updated, None)[0] is None
    assert staleness(None, SyncTimes(served_at=later))[0] is None


# ---------------------------------------------------------------- scan-time observations


class _Hints:
    def __init__(self, **values):
        self.filename = values.get("filename")
        self.title = values.get("title")
        self.year = values.get("year")
        self.guid = values.get("guid")
        self.manual = values.get("manual", False)
        self.ohash = None

    def model_dump(self, **_kwargs):
        return {"filename": self.filename, "title": self.title}


def _outcome(candidates=(), decision=None, error=None, **hints):
    from s2p.match.cascade import Candidate, MatchOutcome

    made = [Candidate(SceneSummary(id=str(i), title=f"S{i}"), score, "basename", "why") for i, score in candidates]
    return MatchOutcome(_Hints(**hints), candidates=made, decision=made[0] if decision else None,
                        reason="some reason", error=error)


def test_observations_classify_no_match_ambiguous_and_matches():
    key, gap = observation(_outcome(filename="Studio/a.mp4"), min_score=85, margin=1)
    assert key == "Studio/a.mp4" and gap.kind == NO_MATCH
    key, gap = observation(_outcome([(5, 90), (6, 90)], filename="/data/x/scene.mp4"), min_score=85, margin=1)
    assert key == "/data/x/scene.mp4" and gap.kind == AMBIGUOUS and gap.scene_id is None
    assert [c["scene"] for c in gap.detail["candidates"]] == ["5", "6"]
    _, gap = observation(_outcome([(5, 70), (6, 70)], filename="a.mp4"), min_score=85, margin=1)
    assert gap.kind == NO_MATCH  # two weak candidates: below the bar, not a tie worth picking from
    # Stash could not be asked: nothing is known, nothing is recorded (nor settled).
    assert observation(_outcome(error="Stash down", filename="a.mp4"), min_score=85, margin=1) == (None, None)
    assert observation(_outcome([(5, 100)], decision=True, filename="a.mp4"), min_score=85, margin=1) == ("a.mp4", None)
    assert observation(_outcome(manual=True, filename="a.mp4"), min_score=85, margin=1) == (None, None)
    key, _ = observation(_outcome(title="Only A Title", year=2020), min_score=85, margin=1)
    assert key == "title: Only A Title (2020)"


def test_observations_settle_when_plex_has_the_file_matched_or_lost_it():
    comparison = Comparison(path_map=RULES, identifier=IDENT, sections=SECTIONS, sync={})
    comparison.add_items([
        PlexItem("1", "a", guid("1"), "1", (PlexPart("/data/adult/Studio/matched.mp4"),)),
        PlexItem("2", "b", "local://2", "1", (PlexPart("/data/adult/Studio/still unmatched.mp4"),)),
        PlexItem("3", "c", guid("3"), "1", (PlexPart("/data/adult/A/dup.mp4"),)),
        PlexItem("4", "d", "local://4", "1", (PlexPart("/data/adult/B/dup.mp4"),)),
    ])
    plex = comparison.finish().plex
    settled = dict(settle_observations([
        (1, "Studio/matched.mp4"),  # relative hint, now matched
        (2, "/data/adult/Studio/still unmatched.mp4"),
        (3, "/data/adult/Studio/deleted.mp4"),  # gone from a compared library
        (4, "/tv/other library/x.mp4"),  # not a compared library: cannot tell
        (5, "title: Something"),
        (6, "/DATA/ADULT/studio/MATCHED.mp4"),  # another case of the same path
        (7, "dup.mp4"),  # means two Plex files, one still unmatched
    ], plex))
    assert settled == {1: "Plex now has it matched by s2p", 3: "the file is no longer in Plex",
                       6: "Plex now has it matched by s2p"}


# ---------------------------------------------------------------- sections


def test_sections_default_to_movie_libraries_on_our_agent():
    available = [PlexSection("1", "Scenes", ("/a",), IDENT), PlexSection("2", "Films", ("/b",), "tv.plex.agents.movie"),
                 PlexSection("3", "Shows", ("/c",), IDENT, "show")]
    assert choose_sections(available, [], IDENT) == ([available[0]], [])
    chosen, problems = choose_sections(available, ["films", "3", "Nope"], IDENT)
    assert chosen == [available[1]]
    assert any("'Nope'" in p and "'Scenes' (id 1)" in p for p in problems)
    assert any("show library" in p for p in problems)
    none, problems = choose_sections(available[1:2], [], IDENT)
    assert none == [] and "[plex] sections" in problems[0] and "'Films'" in problems[0]
    assert "TV" not in problems[0]  # without the TV provider, TV libraries are not s2p's business


def test_with_the_tv_provider_the_default_takes_tv_libraries_on_its_agent_and_names_them_when_none_is():
    tv = IDENT + ".tv"
    available = [PlexSection("1", "Films", ("/a",), "tv.plex.agents.movie"),
                 PlexSection("2", "Studios", ("/b",), tv, "show"), PlexSection("3", "Series", ("/c",), "x", "show")]
    assert choose_sections(available, [], IDENT, tv) == ([available[1]], [])
    none, problems = choose_sections([available[0], available[2]], [], IDENT, tv)
    assert none == [] and len(problems) == 1
    assert f"no TV library the TV provider's ({tv})" in problems[0]
    assert "its TV libraries: 'Series' (id 3, agent x)" in problems[0] and "'Films'" in problems[0]


def test_a_stash_only_file_plexs_tv_scanner_skips_says_so_in_a_tv_library_only():
    scenes = [StashScene("1", "Plain", None, (StashFile(f"{STASH}/Studio/scene.mp4", 10),)),
              StashScene("2", "Episode-like", None, (StashFile(f"{STASH}/Studio/Studio - S00E2 - x.mp4", 10),)),
              StashScene("3", "Dated", None, (StashFile(f"{STASH}/Studio/Studio - 2023-05-12 - x.mp4", 10),))]
    reasons = {}
    for kind in ("movie", "show"):
        section = PlexSection("1", "Scenes", ("/data/adult",), IDENT, kind)
        comparison = Comparison(path_map=RULES, identifier=IDENT, sections=[section], sync={})
        comparison.add_scenes(scenes)
        reasons[kind] = {g.key: g.reason for g in comparison.finish().gaps if g.kind == STASH_ONLY}
        assert set(reasons[kind]) == {"1", "2", "3"}  # Plex has none of them
    assert not any("TV scanner" in r for r in reasons["movie"].values())
    assert "Plex's TV scanner skips this file" in reasons["show"]["1"] and "s2p tv-layout" in reasons["show"]["1"]
    assert "TV scanner" not in reasons["show"]["2"] and "TV scanner" not in reasons["show"]["3"]
