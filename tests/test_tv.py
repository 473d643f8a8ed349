"""The TV provider: studio -> show, year -> season, scene -> episode, over
real HTTP against the stand-in Stash."""

from __future__ import annotations

import json
import math
import time

import pytest
from helpers import PLEX_ROOT, STASH_ROOT, FakeClock, in_process, run, write_config

from s2p.demo.library import Library, generate
from s2p.stash.models import SceneSummary, release
from s2p.tv import layout, tree

TV_ID = "tv.plex.agents.custom.s2p.tv"


@pytest.fixture
def library() -> Library:
    # Forty scenes over five studios, with partial and missing dates,
    # untitled scenes and shared file names; studio 5 is a sub-studio of 4.
    lib = generate(40, root=STASH_ROOT)
    lib.studios["5"]["parent"] = "4"
    lib.add_studio("6", "Lonely Studio", details="A studio without scenes.", aliases=("Lonely",))
    lib.add_scene("41", title="No Studio Here", date="2021-03-04", files=[f"{STASH_ROOT}/Loose/loose.mp4"])
    # One file name in two studios, the same day: only the show tells them apart.
    lib.add_scene("42", title="Clip A", date="2020-02-02", studio="1", files=[f"{STASH_ROOT}/a/clip.mp4"])
    lib.add_scene("43", title="Clip B", date="2020-02-02", studio="2", files=[f"{STASH_ROOT}/b/clip.mp4"])
    return lib


def plex_path(scene: dict) -> str:
    return scene["files"][0]["path"].replace(STASH_ROOT, PLEX_ROOT, 1)


def scenes_of(library: Library, studio_id: str | None) -> set[str]:
    return {sid for sid, s in library.scenes.items() if s["studio"] == studio_id}


def all_pages(s2p, path: str, size: int) -> tuple[list[dict], set[int]]:
    """Every item behind a paged route, ``size`` at a time, and the totalSizes seen."""
    items, totals, start = [], set(), 0
    while True:
        answer = s2p.get(path, headers={"X-Plex-Container-Start": str(start),
                                        "X-Plex-Container-Size": str(size)}).json()["MediaContainer"]
        totals.add(answer["totalSize"])
        assert answer["offset"] == start and answer["size"] == len(answer["Metadata"]) <= size
        items += answer["Metadata"]
        start += size
        if start >= answer["totalSize"]:
            return items, totals


# ---------------------------------------------------------------- the tree, pure


def summary(scene_id: str, date: str | None) -> SceneSummary:
    return SceneSummary(id=scene_id, date=date)


def test_episode_numbers_stay_when_a_scene_is_added_later():
    before = tree.listing([summary("10", "2023-05-12"), summary("11", "2023-05-12"), summary("12", "2023-06-01"),
                           summary("13", None)])
    after = tree.listing([summary("10", "2023-05-12"), summary("11", "2023-05-12"), summary("12", "2023-06-01"),
                          summary("13", None), summary("20", "2023-05-12"), summary("21", "2023-01-02"),
                          summary("22", None)])
    numbers = {e.scene.id: (e.season, e.index) for e in before.episodes}
    assert numbers == {"10": (2023, 51201), "11": (2023, 51202), "12": (2023, 60101), "13": (0, 13)}
    assert {e.scene.id: (e.season, e.index) for e in after.episodes if e.scene.id in numbers} == numbers
    assert [e.scene.id for e in after.season(2023).episodes] == ["21", "10", "11", "20", "12"]  # date order
    assert [s.index for s in after.seasons] == [2023, 0]  # undated last


def test_partial_dates_count_as_their_first_day_or_number_before_the_dated():
    first_day = tree.listing([summary("1", "2022"), summary("2", "2022-07"), summary("3", "2022-01-01")])
    assert [(e.scene.id, e.index) for e in first_day.episodes] == [("1", 10101), ("3", 10102), ("2", 70101)]
    year_only = tree.listing([summary("1", "2022"), summary("3", "2022-01-01")], "year_only")
    assert [(e.scene.id, e.index, e.released) for e in year_only.episodes] == [("1", 1, None),
                                                                               ("3", 10101, "2022-01-01")]


def test_the_newest_episode_is_the_latest_dated_else_the_last_undated():
    listing = tree.listing([summary("5", "2021-03-01"), summary("6", "2023-02-01"), summary("7", "2023-01-01"),
                            summary("9", None), summary("8", "2023-02-01")])
    assert listing.newest.scene.id == "8"  # the later of 2023-02-01's two, by scene id; not the undated one
    assert listing.season(2021).newest.scene.id == "5" and listing.season(0).newest.scene.id == "9"
    assert tree.listing([summary("3", None), summary("4", None)]).newest.scene.id == "4"
    assert tree.listing([]).newest is None


def test_a_file_match_counts_stashs_outage_only_where_it_left_the_answer_empty():
    from s2p.match.cascade import MatchOutcome
    from s2p.match.query import MatchQuery
    from s2p.tv.catalog import Show
    from s2p.tv.service import Choice, TvOutcome

    hints = MatchQuery(kind=4, filename="Studio/2023-05-12 - x.mp4", show_title="Studio", date="2023-05-12")
    episode = tree.listing([summary("7", "2023-05-12")]).episodes[0]
    cascade = MatchOutcome(hints, error="Stash down")  # the file could not be looked up...
    choice = Choice(tree.EPISODE, Show("1", "Studio", None), 90, "show and date", episode=episode)
    decided = TvOutcome(hints, candidates=[choice], decision=choice, cascade=cascade).file_match()
    assert decided.error is None and decided.decision.scene.id == "7"  # ...but the show and date decided
    assert decided.decision.step == "show and date" and cascade.decision is None  # the cached original untouched
    empty = TvOutcome(hints, cascade=cascade).file_match()
    assert empty.error == "Stash down" and empty.decision is None and not empty.candidates
    assert TvOutcome(MatchQuery(kind=2, title="Studio"), cascade=cascade).file_match() is None  # no file named


@pytest.mark.parametrize("key, parsed", [
    ("show-12", tree.Key(tree.SHOW, show="12")),
    ("show-none", tree.Key(tree.SHOW, show="none")),
    ("season-12-2023", tree.Key(tree.SEASON, show="12", season=2023)),
    ("episode-345", tree.Key(tree.EPISODE, scene="345")),
    ("345", None), ("show-", None), ("season-12", None), ("episode-1/2", None), ("show-12 ", None),
    ("season-12-20233", None), ("episode-x", None),
])
def test_rating_keys_name_their_kind(key, parsed):
    assert tree.parse_key(key) == parsed


def test_a_page_counts_from_zero_and_says_the_whole_size():
    page = tree.page(list(range(7)), 6, 3)
    assert (page.items, page.offset, page.total) == ([6], 6, 7)
    assert tree.page(list(range(30)), 0, None).items == list(range(20))  # Plex's default: 20


# ---------------------------------------------------------------- in-process routes


@pytest.fixture
def tv_app(tmp_path, fake_stash):
    """s2p's app in-process (falcon.testing), over the fake Stash: ``client, services = tv_app()``.
    The routes run in the test's thread; only the fake Stash listens, on loopback."""
    built = []

    def build(**overrides):
        client, services = in_process(fake_stash.url, tmp_path / f"app{len(built)}", **overrides)
        built.append(services)
        return client, services

    yield build
    for services in built:
        services.stop()


def metadata_of(client, path: str, **kwargs) -> list[dict]:
    answer = client.simulate_get(path, **kwargs)
    assert answer.status_code == 200, (path, answer.text)
    return answer.json["MediaContainer"]["Metadata"]


def busiest_season(library: Library) -> tuple[str, int, set[str]]:
    """The (studio, year) with the most scenes, and those scenes."""
    seasons: dict[tuple[str, int], set[str]] = {}
    for sid, scene in library.scenes.items():
        _, year = release(scene["date"])
        if scene["studio"] and year:
            seasons.setdefault((scene["studio"], year), set()).add(sid)
    (studio, year), scenes = max(seasons.items(), key=lambda item: (len(item[1]), item[0]))
    return studio, year, scenes


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_a_season_with_children_embeds_each_episode_as_its_own_item_reads(tv_app, library):
    client, _ = tv_app()
    studio, year, scenes = busiest_season(library)
    assert len(scenes) >= 2
    for sid in scenes:
        library.update_scene(sid, details=f"The story of scene {sid}.")
    [season] = metadata_of(client, f"/tv/library/metadata/season-{studio}-{year}", params={"includeChildren": "1"})
    children = season["Children"]["Metadata"]
    assert season["Children"]["size"] == len(children) == len(scenes)
    assert {c["ratingKey"] for c in children} == {f"episode-{sid}" for sid in scenes}
    for child in children:
        # The same full object Plex reads from the episode itself: summary, duration, air date,
        # Role, Guid, thumbs, numbers, parent and grandparent keys.
        [own] = metadata_of(client, f"/tv/library/metadata/{child['ratingKey']}")
        assert child == own
        assert child["summary"] == f"The story of scene {child['ratingKey'].removeprefix('episode-')}."
        assert child["parentKey"] == f"/library/metadata/season-{studio}-{year}"
        assert child["grandparentKey"] == f"/library/metadata/show-{studio}" and child["parentIndex"] == year
        assert child["duration"] > 0 and child["originallyAvailableAt"].startswith(str(year))
    assert [c["index"] for c in children] == sorted(c["index"] for c in children)
    # Without includeChildren, no children; a show embeds its seasons, not their episodes.
    [plain] = metadata_of(client, f"/tv/library/metadata/season-{studio}-{year}")
    assert "Children" not in plain
    [show] = metadata_of(client, f"/tv/library/metadata/show-{studio}", params={"includeChildren": "1"})
    assert all("Children" not in s for s in show["Children"]["Metadata"])


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_push_mode_queues_a_seasons_embedded_episodes_and_its_show(tv_app, library):
    from fakeplex import TOKEN

    from s2p.common.queued import show_entry

    # Push mode on, its worker not started: what a read queues stays in the queue to be seen.
    client, services = tv_app(plex={"url": "http://127.0.0.1:9", "token": TOKEN}, artwork={"push": True})
    assert services.pusher is not None
    studio, year, scenes = busiest_season(library)
    metadata_of(client, f"/tv/library/metadata/season-{studio}-{year}")
    assert {e.scene_id for e in services.pusher.queue.entries()} == {show_entry(studio)}  # the show's pictures
    # Plex's refresh takes the episodes from the season's children: their pictures are queued too.
    metadata_of(client, f"/tv/library/metadata/season-{studio}-{year}", params={"includeChildren": "1"})
    assert {e.scene_id for e in services.pusher.queue.entries()} == {show_entry(studio), *scenes}
    # A HEAD is no read.
    other = next(sid for sid in library.scenes if sid not in scenes and library.scenes[sid]["studio"])
    _, other_year = release(library.scenes[other]["date"])
    client.simulate_head(f"/tv/library/metadata/season-{library.scenes[other]['studio']}-{other_year or 0}",
                         params={"includeChildren": "1"})
    assert other not in {e.scene_id for e in services.pusher.queue.entries()}


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_images_lists_every_picture_of_a_show_a_season_and_an_episode(tv_app, library):
    client, _ = tv_app()
    studio, year, _ = busiest_season(library)
    assert library.studios[studio]["image"] or library.studios[studio]["parent"]
    for key in (f"show-{studio}", f"season-{studio}-{year}", "episode-1"):
        answer = client.simulate_get(f"/tv/library/metadata/{key}/images")
        assert answer.status_code == 200, answer.text
        container = answer.json["MediaContainer"]
        [item] = metadata_of(client, f"/tv/library/metadata/{key}")
        assert container["size"] == len(container["Image"]) >= 2 and "Metadata" not in container
        # The item's own pictures, each with its type and URL.
        assert container["Image"] == [{"type": i["type"], "url": i["url"]} for i in item["Image"]]
        assert all(i["url"].startswith("http") and i["type"] for i in container["Image"])
    show_types = {i["type"] for i in client.simulate_get(f"/tv/library/metadata/show-{studio}/images")
                  .json["MediaContainer"]["Image"]}
    assert {"background"} <= show_types
    assert client.simulate_get("/tv/library/metadata/show-999/images").status_code == 404
    assert client.simulate_get("/tv/library/metadata/episode-999/images").status_code == 404
    assert client.simulate_get("/tv/library/metadata/episode-1/extras").json["MediaContainer"]["size"] == 0


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_what_has_no_children_answers_an_empty_list_and_what_does_not_exist_a_404(tv_app, library):
    client, _ = tv_app()
    studio, year, _ = busiest_season(library)
    for path in ("/tv/library/metadata/episode-1/children", "/tv/library/metadata/episode-1/grandchildren",
                 f"/tv/library/metadata/season-{studio}-{year}/grandchildren"):
        answer = client.simulate_get(path, headers={"X-Plex-Container-Start": "0", "X-Plex-Container-Size": "20"})
        assert answer.status_code == 200, (path, answer.text)
        container = answer.json["MediaContainer"]
        assert (container["size"], container["totalSize"], container["Metadata"]) == (0, 0, []), path
    for path in ("/tv/library/metadata/episode-999/children", "/tv/library/metadata/episode-999/grandchildren",
                 f"/tv/library/metadata/season-{studio}-1850/grandchildren",
                 "/tv/library/metadata/show-999/grandchildren"):
        answer = client.simulate_get(path)
        assert answer.status_code == 404 and answer.json["error"] == "unknown ratingKey", path


def add_scenes(library: Library, studio: str, count: int, first: int = 1000) -> set[str]:
    """``count`` scenes of one studio in one year, some on the same day."""
    added = set()
    for n in range(count):
        sid = str(first + n)
        library.add_scene(sid, title=f"Scene {sid}", date=f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}", studio=studio,
                          files=[f"{STASH_ROOT}/Lonely/{sid}.mp4"])
        added.add(sid)
    return added


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_a_large_page_reads_its_scenes_in_batches_and_is_capped(tv_app, fake_stash, library):
    from s2p.tv.service import MAX_EPISODE_PAGE

    added = add_scenes(library, "6", 1200)
    client, services = tv_app()
    batch = services.settings.cache.batch_size
    fake_stash.standin.reset_counts()
    answer = client.simulate_get("/tv/library/metadata/show-6/grandchildren",
                                 headers={"X-Plex-Container-Start": "0", "X-Plex-Container-Size": "1000"})
    assert answer.status_code == 200, answer.text
    container = answer.json["MediaContainer"]
    assert container["size"] == len(container["Metadata"]) == MAX_EPISODE_PAGE < 1000
    assert container["totalSize"] == 1200 and container["offset"] == 0
    counts = fake_stash.standin.counts
    # One query for the studios, one for the show's listing, then the page in batches.
    assert counts["op:S2PFindScenes"] == math.ceil(MAX_EPISODE_PAGE / batch), dict(counts)
    assert counts["graphql"] <= 2 + math.ceil(MAX_EPISODE_PAGE / batch), dict(counts)
    # Plex pages on from offset + size: every episode once.
    seen = [e["ratingKey"] for e in container["Metadata"]]
    while len(seen) < 1200:
        page = client.simulate_get("/tv/library/metadata/show-6/grandchildren",
                                   headers={"X-Plex-Container-Start": str(len(seen)),
                                            "X-Plex-Container-Size": "1000"}).json["MediaContainer"]
        assert page["offset"] == len(seen) and page["Metadata"]
        seen += [e["ratingKey"] for e in page["Metadata"]]
    assert sorted(seen) == sorted(f"episode-{sid}" for sid in added)
    # A season of 1,200 with its children: every episode, in batches too.
    fake_stash.standin.reset_counts()
    services.scenes.cache.clear()
    [season] = metadata_of(client, "/tv/library/metadata/season-6-2024", params={"includeChildren": "1"})
    assert season["Children"]["size"] == 1200
    assert fake_stash.standin.counts["op:S2PFindScenes"] == math.ceil(1200 / batch)


@pytest.mark.integration  # in-process routes, over the fake Stash on loopback
def test_a_page_whose_time_ran_out_stops_asking_stash(tv_app, fake_stash, library):
    from s2p.common.deadline import Deadline
    from s2p.stash.errors import StashUnavailable

    add_scenes(library, "6", 450)
    client, services = tv_app()
    tv = services.tv
    assert client.simulate_get("/tv/library/metadata/show-6/children").status_code == 200  # the listing, cached
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)
    asked = []
    stash_scenes = services.stash.scenes

    def slow_scenes(ids, *, deadline=None):
        asked.append(len(ids))
        found = stash_scenes(ids)
        clock.now += 20  # this read took the rest of the request's time
        return found

    services.stash.scenes = slow_scenes
    fake_stash.standin.reset_counts()
    with pytest.raises(StashUnavailable):
        tv.children("show-6", _NoLinks(), deadline, 0, 400, grand=True)
    assert asked == [services.settings.cache.batch_size]  # one read, then no more
    # Nothing stays reserved: the next request reads the rest.
    services.stash.scenes = stash_scenes
    page = tv.children("show-6", _NoLinks(), Deadline(10), 0, 400, grand=True)
    assert len(page.items) == 400


class _NoLinks:
    base = ""

    def scene(self, scene, variant):
        return None

    def performer(self, performer):
        return None

    def studio(self, studio):
        return None

    def group(self, group):
        return None

    def known_without_cover(self, scene):
        return False


# ---------------------------------------------------------------- over HTTP


def test_registration_names_show_season_and_episode_under_one_scheme(s2p):
    provider = s2p.get("/tv").json()["MediaProvider"]
    assert provider["identifier"] == TV_ID
    assert [t["type"] for t in provider["Types"]] == [2, 3, 4]
    assert all(t["Scheme"] == [{"scheme": TV_ID}] for t in provider["Types"])
    assert {f["type"]: f["key"] for f in provider["Feature"]} == {
        "metadata": "/library/metadata", "match": "/library/metadata/matches"}
    assert s2p.get("/tv/").json() == s2p.get("/tv").json()
    assert s2p.get("/").json()["MediaProvider"]["Types"] == [
        {"type": 1, "Scheme": [{"scheme": "tv.plex.agents.custom.s2p"}]}]


def test_studios_match_as_shows_by_name(s2p, library):
    for studio_id in ("1", "2", "3", "4"):
        name = library.studios[studio_id]["name"]
        found = s2p.post("/tv/library/metadata/matches", json={"type": 2, "title": name.upper()}).json()
        [show] = found["MediaContainer"]["Metadata"]
        assert show["guid"] == f"{TV_ID}://show/show-{studio_id}" and show["title"] == name
        assert show["key"] == f"/library/metadata/show-{studio_id}/children" and show["type"] == "show"
    [alias] = s2p.post("/tv/library/metadata/matches", json={"type": 2, "title": "Lonely"}).json()[
        "MediaContainer"]["Metadata"]
    assert alias["ratingKey"] == "show-6"
    assert s2p.post("/tv/library/metadata/matches", json={"type": 2, "title": "Nobody Films"}).json()[
        "MediaContainer"]["size"] == 0


def test_each_show_holds_exactly_its_studios_scenes_by_year(s2p, library):
    for studio_id in [*library.studios, None]:
        key = f"show-{studio_id or 'none'}"
        seasons, totals = all_pages(s2p, f"/tv/library/metadata/{key}/children", 2)
        assert len(totals) == 1 and totals.pop() == len(seasons)
        held: list[str] = []
        for season in seasons:
            assert season["parentRatingKey"] == key and season["type"] == "season"
            episodes, _ = all_pages(s2p, f"/tv/library/metadata/{season['ratingKey']}/children", 20)
            for episode in episodes:
                scene = library.scenes[episode["ratingKey"].removeprefix("episode-")]
                _, year = release(scene["date"])
                assert episode["parentIndex"] == season["index"] == (year or 0)
                assert episode["grandparentRatingKey"] == key
            held += [e["ratingKey"].removeprefix("episode-") for e in episodes]
        assert sorted(held) == sorted(scenes_of(library, studio_id))


def test_grandchildren_paged_three_at_a_time_list_every_episode_once(s2p, library):
    for studio_id in ("1", "2", "3", "4", "5"):
        episodes, totals = all_pages(s2p, f"/tv/library/metadata/show-{studio_id}/grandchildren", 3)
        ids = [e["ratingKey"].removeprefix("episode-") for e in episodes]
        assert len(ids) == len(set(ids)) and set(ids) == scenes_of(library, studio_id)
        assert totals == {len(ids)}
        order = [(e["parentIndex"] or 10**4, e["index"]) for e in episodes]
        assert order == sorted(order)  # by season (undated last), then number


def test_forty_files_match_as_episodes_with_show_season_and_date(s2p, library):
    matched = 0
    for scene_id in [str(i) for i in range(1, 41)]:
        scene = library.scenes[scene_id]
        studio = library.studios[scene["studio"]]["name"]
        released, year = release(scene["date"])
        hints = {"type": 4, "filename": plex_path(scene), "grandparentTitle": studio}
        if released:
            hints["date"] = released
        found = s2p.post("/tv/library/metadata/matches", json=hints).json()["MediaContainer"]["Metadata"]
        assert len(found) == 1, (scene_id, found)
        [episode] = found
        assert episode["ratingKey"] == f"episode-{scene_id}" and episode["type"] == "episode"
        assert episode["grandparentTitle"] == studio
        assert episode["parentIndex"] == (year or 0)
        assert episode["originallyAvailableAt"] == (released or "")
        matched += 1
    assert matched == 40


def test_an_episode_found_by_show_and_air_date_alone(s2p, library):
    scene = library.scenes["41"]
    found = s2p.post("/tv/library/metadata/matches",
                     json={"type": 4, "grandparentTitle": "No studio", "date": scene["date"]}).json()
    assert [e["ratingKey"] for e in found["MediaContainer"]["Metadata"]] == ["episode-41"]
    # By season and number, as Plex's example provider reads them.
    numbered = s2p.post("/tv/library/metadata/matches",
                        json={"type": 4, "grandparentTitle": "no studio", "parentIndex": 2021, "index": 30401}).json()
    assert [e["ratingKey"] for e in numbered["MediaContainer"]["Metadata"]] == ["episode-41"]


def test_an_air_date_is_read_under_either_name(s2p, library):
    studio_b = library.studios["2"]["name"]
    matches = "/tv/library/metadata/matches"
    for name in ("date", "originallyAvailableAt"):
        found = s2p.post(matches, json={"type": 4, "filename": "clip.mp4", "grandparentTitle": studio_b,
                                        name: "2020-02-02"}).json()
        assert [e["ratingKey"] for e in found["MediaContainer"]["Metadata"]] == ["episode-43"], name
        alone = s2p.post(matches, json={"type": 4, "grandparentTitle": "No studio", name: "2021-03-04"}).json()
        assert [e["ratingKey"] for e in alone["MediaContainer"]["Metadata"]] == ["episode-41"], name


def test_numbers_of_zero_or_below_are_unknown_and_s2ps_own_keys_are_evidence(s2p, library):
    matches = "/tv/library/metadata/matches"
    # An index of -1 or 0 is not known: the show and air date still decide.
    found = s2p.post(matches, json={"type": 4, "grandparentTitle": "No studio", "date": "2021-03-04",
                                    "index": -1, "parentIndex": 0}).json()
    assert [e["ratingKey"] for e in found["MediaContainer"]["Metadata"]] == ["episode-41"]
    # No title at all: s2p's own key of the show (as a grandparent guid or ratingKey) names it.
    for evidence in ({"grandparentGuid": f"{TV_ID}://show/show-2"}, {"grandparentRatingKey": "show-2"},
                     {"parentRatingKey": "season-2-2020"}):
        found = s2p.post(matches, json={"type": 4, "filename": "clip.mp4", "date": "2020-02-02",
                                        **evidence}).json()
        assert [e["ratingKey"] for e in found["MediaContainer"]["Metadata"]] == ["episode-43"], evidence
    # Plex's own numeric ratingKey there is no evidence of anything: the tie stays a tie.
    tie = s2p.post(matches, json={"type": 4, "filename": "clip.mp4", "date": "2020-02-02",
                                  "grandparentRatingKey": "12345"}).json()
    assert tie["MediaContainer"]["size"] == 0


def test_a_season_matches_by_its_show_and_year(s2p, library):
    episodes, _ = all_pages(s2p, "/tv/library/metadata/show-2/grandchildren", 50)
    year = episodes[0]["parentIndex"]
    name = library.studios["2"]["name"]
    found = s2p.post("/tv/library/metadata/matches", json={"type": 3, "parentTitle": name, "index": year,
                                                             "includeChildren": 1}).json()
    [season] = found["MediaContainer"]["Metadata"]
    assert season["ratingKey"] == f"season-2-{year}" and season["parentTitle"] == name
    assert {c["ratingKey"] for c in season["Children"]["Metadata"]} == {
        e["ratingKey"] for e in episodes if e["parentIndex"] == year}
    assert s2p.post("/tv/library/metadata/matches", json={"type": 3, "parentTitle": name, "index": 1850}).json()[
        "MediaContainer"]["size"] == 0


def test_an_episode_reads_as_a_tv_library_shows_it(s2p, library):
    library.update_scene("1", director="A. Director")
    library.update_entity("studio", library.scenes["1"]["studio"], details="Studio details.")
    episode = s2p.get("/tv/library/metadata/episode-1").json()["MediaContainer"]["Metadata"][0]
    scene = library.scenes["1"]
    studio_id = scene["studio"]
    released, year = release(scene["date"])
    assert episode["title"] == scene["title"] and episode["summary"] == scene["details"]
    assert episode["originallyAvailableAt"] == released and episode["duration"] == 1800000
    assert episode["Director"] == [{"tag": "A. Director"}]
    assert [r["tag"] for r in episode["Role"]] == [library.performers[p]["name"] for p in scene["performers"]]
    assert "/images/scene/1/background/" in episode["thumb"] and episode["Image"][0]["type"] == "snapshot"
    assert episode["parentKey"] == f"/library/metadata/season-{studio_id}-{year}"
    assert episode["grandparentKey"] == f"/library/metadata/show-{studio_id}"
    assert episode["parentGuid"] == f"{TV_ID}://season/season-{studio_id}-{year}"
    assert "Collection" not in episode
    show = s2p.get(f"/tv/library/metadata/show-{studio_id}?includeChildren=1").json()["MediaContainer"]["Metadata"][0]
    assert show["summary"] == "Studio details." and f"/images/studio/{studio_id}/" in show["thumb"]
    seasons, _ = all_pages(s2p, f"/tv/library/metadata/show-{studio_id}/children", 50)
    assert show["Children"]["size"] == len(seasons)
    assert [c["ratingKey"] for c in show["Children"]["Metadata"]] == [s["ratingKey"] for s in seasons]
    # Backgrounds: the show's and each season's newest scene's screenshot.
    dated = sorted((release(s["date"])[0], int(sid)) for sid, s in library.scenes.items()
                   if s["studio"] == studio_id and s.get("date"))
    newest = str(dated[-1][1])
    assert f"/images/scene/{newest}/background/" in show["art"]
    assert {"type": "background", "url": show["art"], "alt": show["title"]} in show["Image"]
    for season in seasons:
        if season["index"] == 0:  # undated: the last by scene id
            latest = max(int(sid) for sid, s in library.scenes.items()
                         if s["studio"] == studio_id and not s.get("date"))
        else:
            latest = [sid for d, sid in dated if d[:4] == str(season["index"])][-1]  # by date, then scene id
        assert f"/images/scene/{latest}/background/" in season["art"], season["ratingKey"]


def test_top_parent_shows_hold_their_sub_studios(start_s2p, fake_stash, library):
    s2p = start_s2p(fake_stash.url, tv={"show": "top_parent"})
    parents = {sid: s["parent"] for sid, s in library.studios.items()}

    def top(studio_id):
        while parents.get(studio_id):
            studio_id = parents[studio_id]
        return studio_id

    tops = {top(sid) for sid in library.studios}
    assert tops != set(library.studios)  # the library has sub-studios
    for studio_id in tops:
        episodes, _ = all_pages(s2p, f"/tv/library/metadata/show-{studio_id}/grandchildren", 7)
        wanted = {sid for sid, s in library.scenes.items() if s["studio"] and top(s["studio"]) == studio_id}
        assert {e["ratingKey"].removeprefix("episode-") for e in episodes} == wanted
    sub = next(sid for sid in library.studios if top(sid) != sid)
    assert s2p.get(f"/tv/library/metadata/show-{sub}").status_code == 404


@pytest.mark.parametrize("path", [
    "/tv/library/metadata/12", "/tv/library/metadata/show-999", "/tv/library/metadata/season-1-1850",
    "/tv/library/metadata/episode-999", "/tv/library/metadata/episode-999/children",
    "/tv/library/metadata/season-1-1850/grandchildren", "/tv/library/metadata/show-x/children",
    "/tv/library/metadata/..%2F..%2Fetc/children",
])
def test_unknown_items_are_a_json_404(s2p, path):
    answer = s2p.get(path)
    assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"] == "unknown ratingKey"


def test_odd_paging_values_are_dropped_not_refused(s2p, library):
    everything, _ = all_pages(s2p, "/tv/library/metadata/show-1/grandchildren", 100)
    for headers in ({"X-Plex-Container-Start": "-5"}, {"X-Plex-Container-Start": "abc"},
                    {"X-Plex-Container-Size": "99999"}, {"X-Plex-Container-Size": "1.5e400"}):
        answer = s2p.get("/tv/library/metadata/show-1/grandchildren", headers=headers)
        assert answer.status_code == 200, headers
        body = answer.json()["MediaContainer"]
        assert body["offset"] == 0 and body["totalSize"] == len(everything)
    past = s2p.get("/tv/library/metadata/show-1/grandchildren",
                   params={"X-Plex-Container-Start": 1000}).json()["MediaContainer"]
    assert past["size"] == 0 and past["totalSize"] == len(everything)


def test_stash_down_gives_fast_empty_matches_and_503_items(start_s2p, fake_stash, library, caplog):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5})
    fake_stash.stop()
    studio = library.studios["1"]["name"]
    for hints in ({"type": 2, "title": studio}, {"type": 3, "parentTitle": studio, "index": 2023},
                  {"type": 4, "filename": plex_path(library.scenes["1"])},
                  {"type": 4, "grandparentTitle": studio, "date": "2023-05-12"}):
        started = time.monotonic()
        answer = s2p.post("/tv/library/metadata/matches", json=hints)
        assert answer.status_code == 200 and answer.json()["MediaContainer"]["size"] == 0, (hints, answer.text)
        assert time.monotonic() - started < 3, hints
    assert "TV match for" in caplog.text and "answered empty" in caplog.text
    for path in ("/tv/library/metadata/show-1", "/tv/library/metadata/show-1/children",
                 "/tv/library/metadata/episode-1"):
        answer = s2p.get(path)
        assert answer.status_code == 503 and answer.json()["status"] == 503, path
        assert fake_stash.url.split("//")[1] not in answer.text


def test_a_movie_match_asked_of_the_tv_provider_is_empty_and_the_tv_one_of_the_movie_provider_too(s2p, library):
    scene = library.scenes["1"]
    assert s2p.post("/tv/library/metadata/matches", json={"type": 1, "filename": plex_path(scene)}).json()[
        "MediaContainer"]["size"] == 0
    assert s2p.post("/library/metadata/matches", json={"type": 4, "filename": plex_path(scene)}).json()[
        "MediaContainer"]["size"] == 0


def test_the_show_and_air_date_decide_between_files_of_one_name(s2p, library):
    studio_b = library.studios["2"]["name"]
    tie = s2p.post("/tv/library/metadata/matches", json={"type": 4, "filename": "clip.mp4"}).json()
    assert tie["MediaContainer"]["size"] == 0  # two scenes, nothing to choose by: never matched automatically
    listed = s2p.post("/tv/library/metadata/matches", json={"type": 4, "filename": "clip.mp4", "manual": 1}).json()
    assert {e["ratingKey"] for e in listed["MediaContainer"]["Metadata"]} == {"episode-42", "episode-43"}
    found = s2p.post("/tv/library/metadata/matches", json={"type": 4, "filename": "clip.mp4",
                                                             "grandparentTitle": studio_b, "date": "2020-02-02"}).json()
    assert [e["ratingKey"] for e in found["MediaContainer"]["Metadata"]] == ["episode-43"]


def test_episode_matches_leave_scan_time_gap_records_as_movie_matches_do(s2p, library):
    studio_b = library.studios["2"]["name"]
    matches = "/tv/library/metadata/matches"
    # A file two scenes share, with nothing to tell them apart; a file Stash does not have.
    assert s2p.post(matches, json={"type": 4, "filename": "clip.mp4"}).json()["MediaContainer"]["size"] == 0
    assert s2p.post(matches, json={"type": 4, "filename": f"{PLEX_ROOT}/Nobody/2020-01-01 - x.mp4"}).json()[
        "MediaContainer"]["size"] == 0
    s2p.services.gaps.store.flush()
    gaps = {g["plex_path"]: g for g in s2p.get("/gaps.json").json()["gaps"]}
    assert gaps["clip.mp4"]["kind"] == "ambiguous"
    assert {c["scene"] for c in gaps["clip.mp4"]["detail"]["candidates"]} == {"42", "43"}
    assert gaps[f"{PLEX_ROOT}/Nobody/2020-01-01 - x.mp4"]["kind"] == "no_match"
    # Plex asks again with the show and the air date: matched, so the record is settled.
    found = s2p.post(matches, json={"type": 4, "filename": "clip.mp4", "grandparentTitle": studio_b,
                                    "date": "2020-02-02"}).json()["MediaContainer"]["Metadata"]
    assert [e["ratingKey"] for e in found] == ["episode-43"]
    s2p.services.gaps.store.flush()
    still = {g["plex_path"] for g in s2p.get("/gaps.json").json()["gaps"]}
    assert "clip.mp4" not in still and f"{PLEX_ROOT}/Nobody/2020-01-01 - x.mp4" in still
    # The match counters count episode matches too.
    metrics = s2p.get("/metrics").text
    assert 's2p_matches_total{result="ambiguous",step=""}' in metrics


@pytest.mark.integration
def test_s2p_match_tv_explains_an_episode(tmp_path, fake_stash, library):
    config = write_config(tmp_path, fake_stash.url)
    studio_b = library.studios["2"]["name"]
    result = run("match", "--tv", "--filename", "clip.mp4", "--show", studio_b, "--date", "2020-02-02", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the file, through the movie provider's cascade:" in result.stdout
    assert f"decision: scene 43 ({studio_b}, season 2020) as season 2020, episode 20201" in result.stdout
    tie = run("match", "--tv", "--json", "--filename", "clip.mp4", config=config)
    assert tie.returncode == 1
    explained = json.loads(tie.stdout)
    assert explained["decision"] is None and {c["scene"] for c in explained["candidates"]} == {"42", "43"}
    assert explained["files"]["ambiguous"] is True


def test_debug_match_explains_the_tv_provider(start_s2p, fake_stash, library):
    s2p = start_s2p(fake_stash.url, debug={"enabled": True})
    name = library.studios["3"]["name"]
    explained = s2p.get("/debug/match", params={"tv": 1, "type": 2, "title": name.lower()}).json()
    assert explained["decision"]["ratingKey"] == "show-3" and explained["decision"]["step"] == "title"
    movie = s2p.get("/debug/match", params={"filename": "clip.mp4"}).json()
    assert "files" not in movie and len(movie["candidates"]) == 2


@pytest.mark.integration
def test_a_plex_tv_scan_builds_every_studio_folder_into_its_show(s2p, library):
    from fakeplex import FakePlex

    plex = FakePlex()
    plex.add_section(7, "Stash TV", [PLEX_ROOT], agent=TV_ID, type="show")
    plex.start()
    try:
        files = {f["path"].replace(STASH_ROOT, PLEX_ROOT, 1): sid for sid, s in library.scenes.items()
                 for f in s["files"]}
        seen = plex.scan_tv(7, s2p.url + "/tv", sorted(files), page_size=3)
    finally:
        plex.stop()
    studio_of_folder = {s["name"]: sid for sid, s in library.studios.items()}
    # Every folder named after a studio became that studio's show...
    assert {folder: show["ratingKey"] for folder, show in seen["shows"].items()} == {
        folder: f"show-{studio_of_folder[folder]}" for folder in seen["shows"]}
    assert len(seen["shows"]) == 5
    # ...listing exactly that studio's scenes, by season and all at once, three at a time.
    for show_key, listed in seen["listed"].items():
        studio_id = show_key.removeprefix("show-")
        wanted = {f"episode-{sid}" for sid in scenes_of(library, studio_id)}
        by_season = [e for episodes in listed["seasons"].values() for e in episodes]
        assert sorted(by_season) == sorted(listed["grandchildren"]) == sorted(wanted)
    # Every file in a studio folder is its own scene's episode, in the season of its year.
    items = {i.parts[0].file: i for i in plex.sections[7].items if i.type == "episode"}
    # Each show is a Plex show holding one season per year its files have, as Plex builds them.
    shows = {i.rating_key: i for i in plex.sections[7].items if i.type == "show"}
    assert sorted(i.guid for i in shows.values()) == sorted(s["guid"] for s in seen["shows"].values())
    seasons = {i.rating_key: i for i in plex.sections[7].items if i.type == "season"}
    assert all(seasons[i.parent_rating_key].index == i.parent_index for i in items.values())
    assert {seasons[i.parent_rating_key].parent_rating_key for i in items.values()} == set(shows)
    for path, item in items.items():
        scene = library.scenes[files[path]]
        assert item.guid == f"{TV_ID}://episode/episode-{scene['id']}"
        assert item.parent_index == (release(scene["date"])[1] or 0)
        assert item.grandparent_title == library.studios[scene["studio"]]["name"]
    # Plex's TV scanner skips the files not named like episodes; s2p's model of it agrees.
    skipped = {p for p in files if layout.scanner_skips(p[len(PLEX_ROOT):])}
    assert sorted(seen["skipped"]) == sorted(skipped)
    assert {files[p] for p in skipped} == {"24", "41", "42", "43"}  # set 24/scene 4.mp4, loose.mp4, clip.mp4
    in_studio_folders = [p for p in files if p.split("/")[3] in studio_of_folder and p not in skipped]
    assert sorted(items) == sorted(in_studio_folders)
    assert not seen["unmatched"]
    assert seen["requests"]["GET /library/metadata/{key}/grandchildren"] >= 5


@pytest.fixture
def tv_plex(s2p, library):
    """A fake Plex with a TV library scanned through the TV provider."""
    from fakeplex import FakePlex

    plex = FakePlex()
    plex.add_section(7, "Stash TV", [PLEX_ROOT], agent=TV_ID, type="show")
    plex.add_section(8, "Films", ["/films"], agent="tv.plex.agents.movie")
    plex.start()
    files = sorted(f["path"].replace(STASH_ROOT, PLEX_ROOT, 1) for s in library.scenes.values() for f in s["files"])
    plex.scan_tv(7, s2p.url + "/tv", files)
    yield plex
    plex.stop()


@pytest.mark.integration
def test_gap_detection_compares_tv_libraries_on_the_tv_agent(start_s2p, fake_stash, library, tv_plex):
    from fakeplex import TOKEN

    # One episode that claims scene 1 but is scene 2's file, and one file Stash does not have.
    scene_2_file = library.scenes["2"]["files"][0]["path"].replace(STASH_ROOT, PLEX_ROOT, 1)
    claimed = tv_plex.add_item(7, "Mislabelled", [scene_2_file], guid=f"{TV_ID}://episode/episode-1", type="episode")
    stranger = tv_plex.add_item(7, "Stranger", [f"{PLEX_ROOT}/Somebody/2020-01-01 - Stranger.mp4"],
                                guid="local://1", type="episode")
    s2p = start_s2p(fake_stash.url, plex={"url": tv_plex.url, "token": TOKEN, "timeout": 5}, gaps={"interval": 0})
    result = s2p.services.gaps.compare()
    assert result.stats["sections"] == ["Stash TV"]
    gaps = s2p.get("/gaps.json").json()["gaps"]
    by_kind: dict[str, set[str]] = {}
    for gap in gaps:
        by_kind.setdefault(gap["kind"], set()).add(gap["scene_id"] if gap["kind"] == "stash_only" else
                                                   gap["rating_key"] if gap["kind"] == "matched_elsewhere" else
                                                   gap["plex_path"])
    # The scenes whose files Plex's TV scanner skips never became episodes; the report says why.
    assert by_kind["stash_only"] == {"24", "41", "42", "43"}
    assert all("Plex's TV scanner skips this file" in g["reason"] and "s2p tv-layout" in g["reason"]
               for g in gaps if g["kind"] == "stash_only")
    assert by_kind["plex_only"] == {f"{PLEX_ROOT}/Somebody/2020-01-01 - Stranger.mp4"}
    # The mislabelled episode; the stranger, whose file Stash lacks, is one record (above), saying no agent
    # matched it.
    assert by_kind["matched_elsewhere"] == {str(claimed.rating_key)}
    only = next(gap for gap in gaps if gap["kind"] == "plex_only")
    assert only["rating_key"] == str(stranger.rating_key) and "in Plex: no agent matched it" in only["reason"]


@pytest.mark.integration
def test_live_sync_refreshes_the_episodes_of_an_edited_scene(start_s2p, fake_stash, library, tv_plex):
    from fakeplex import TOKEN
    from helpers import eventually

    s2p = start_s2p(fake_stash.url, plex={"url": tv_plex.url, "token": TOKEN, "timeout": 5}, sync={"interval": 0.3},
                    artwork={"push": False}, gaps={"interval": 0})
    eventually(lambda: s2p.services.sync.cycles >= 2, "the first cycles")
    # Scene 3's episode item(s): one per file of the scene in the fake's scan.
    wanted = {i.rating_key for i in tv_plex.sections[7].items if i.guid == f"{TV_ID}://episode/episode-3"}
    assert wanted
    library.update_scene("3", title="Retitled", updated_at="2030-01-01T00:00:00+00:00")
    eventually(lambda: wanted <= set(tv_plex.refreshed), "the episode's refresh")
    assert sorted(tv_plex.refreshed) == sorted(wanted)
    # What Plex reads next is the new title: the TV provider's listings were forgotten too.
    studio = library.scenes["3"]["studio"]
    listed, _ = all_pages(s2p, f"/tv/library/metadata/show-{studio}/grandchildren", 50)
    assert next(e["title"] for e in listed if e["ratingKey"] == "episode-3") == "Retitled"


@pytest.mark.integration
def test_push_mode_uploads_an_episodes_screenshot_once(start_s2p, fake_stash, library, tv_plex):
    from fakeplex import TOKEN
    from helpers import eventually

    s2p = start_s2p(fake_stash.url, plex={"url": tv_plex.url, "token": TOKEN, "timeout": 5},
                    artwork={"push": True, "push_delay": 0}, gaps={"interval": 0})
    items = {i.rating_key for i in tv_plex.sections[7].items if i.guid == f"{TV_ID}://episode/episode-1"}
    assert s2p.get("/tv/library/metadata/episode-1").status_code == 200
    assert s2p.head("/tv/library/metadata/episode-4", timeout=10).status_code == 200  # not a read
    eventually(lambda: len(tv_plex.uploads) == 2 * len(items), "the episode's uploads")
    screenshot = library.image("scene", "1")
    assert sorted(tv_plex.uploads) == sorted((key, kind, screenshot) for key in items for kind in ("arts", "posters"))
    # Read again: nothing new to upload.
    assert s2p.get("/tv/library/metadata/episode-1").status_code == 200
    eventually(lambda: s2p.services.pusher.queue.pending() == 0, "an empty queue")
    assert len(tv_plex.uploads) == 2 * len(items)


@pytest.mark.integration
def test_push_mode_gives_a_show_and_its_seasons_the_studios_poster_and_their_newest_backgrounds(
        start_s2p, fake_stash, library, tv_plex):
    from fakeplex import TOKEN
    from helpers import eventually

    s2p = start_s2p(fake_stash.url, plex={"url": tv_plex.url, "token": TOKEN, "timeout": 5},
                    artwork={"push": True, "push_delay": 0}, gaps={"interval": 0})
    items = tv_plex.sections[7].items
    show = next(i for i in items if i.guid == f"{TV_ID}://show/show-1")
    seasons = {i.rating_key: i.index for i in items if i.type == "season" and i.parent_rating_key == show.rating_key}
    assert len(seasons) >= 2
    listed, _ = all_pages(s2p, "/tv/library/metadata/show-1/children", 50)  # a listing, not a read of the show
    newest = {s["index"]: s["art"] for s in listed}  # each season's background...
    newest[None] = newest[max(i for i in newest if i != 0)]  # ...and the show's: that of its latest year

    def scene_of(url: str) -> str:
        return url.split("/images/scene/")[1].split("/")[0]

    # Plex reads one season: the show and every season of it get the studio's picture as the
    # poster, and their newest scene's screenshot as the background, once each.
    year = next(iter(seasons.values()))
    assert s2p.get(f"/tv/library/metadata/season-1-{year}").status_code == 200
    wanted = sorted([(key, "posters", library.image("studio", "1")) for key in [*seasons, show.rating_key]]
                    + [(key, "arts", library.image("scene", scene_of(newest[index])))
                       for key, index in [*seasons.items(), (show.rating_key, None)]])
    eventually(lambda: len(tv_plex.uploads) >= len(wanted), "the show's uploads")
    assert sorted(tv_plex.uploads) == wanted
    # Read again, with the pictures unchanged: nothing new goes up.
    assert s2p.get("/tv/library/metadata/show-1").status_code == 200
    eventually(lambda: s2p.services.pusher.queue.pending() == 0, "an empty queue")
    assert len(tv_plex.uploads) == len(wanted)
    assert s2p.get("/tv/library/metadata/show-1").json()["MediaContainer"]["Metadata"][0]["art"] == newest[None]
    # A new studio picture in Stash goes up at the next read, and only it.
    library.update_entity("studio", "1", image_version=1800000000)
    s2p.services.tv.catalog.forget()
    assert s2p.get("/tv/library/metadata/show-1").status_code == 200
    posters = len(seasons) + 1
    eventually(lambda: len(tv_plex.uploads) == len(wanted) + posters, "the new picture's uploads")
    assert {(kind, body) for _, kind, body in tv_plex.uploads[len(wanted):]} == {
        ("posters", library.image("studio", "1"))}


@pytest.mark.integration
def test_live_sync_refreshes_the_show_of_an_edited_studio(start_s2p, fake_stash, library, tv_plex):
    from fakeplex import TOKEN
    from helpers import eventually

    s2p = start_s2p(fake_stash.url, plex={"url": tv_plex.url, "token": TOKEN, "timeout": 5}, sync={"interval": 0.3},
                    artwork={"push": False}, gaps={"interval": 0})
    eventually(lambda: s2p.services.sync.cycles >= 2, "the first cycles")
    items = tv_plex.sections[7].items
    show = next(i.rating_key for i in items if i.guid == f"{TV_ID}://show/show-2")
    episodes = {i.rating_key for i in items if i.type == "episode" and i.grandparent_guid == f"{TV_ID}://show/show-2"}
    assert episodes
    library.update_entity("studio", "2", name="Renamed Studio", updated_at="2030-01-01T00:00:00+00:00")
    eventually(lambda: {show} | episodes <= set(tv_plex.refreshed), "the show's and its episodes' refreshes")
    # The show itself, not its seasons; each episode once; nothing of other studios.
    assert sorted(tv_plex.refreshed) == sorted({show} | episodes)
    # What Plex reads next is the new name.
    assert s2p.get("/tv/library/metadata/show-2").json()["MediaContainer"]["Metadata"][0]["title"] == "Renamed Studio"


# ---------------------------------------------------------------- a layout Plex's TV scanner takes


@pytest.mark.parametrize("title, date", [
    ("First Title", "2023-05-12"), ("Best of (2019) [Remastered]", "2019-12-31"), ("A/B: c? <d>", "2021-02-03"),
    ("S01E02 lookalike 3x04", "2020-01-01"), ("", None), ("Year only", "2022"), ("Über — naïve", "2024-07"),
])
def test_layout_names_are_read_back_alike_by_s2p_and_by_plexs_scanner(title, date):
    from fakeplex import tv_scanner_reads

    scenes = [SceneSummary(id="345", title=title or None, date=date,
                           files=[{"path": "/s/a b.MP4", "basename": "a b.MP4"}]),
              SceneSummary(id="346", title="Same day", date=date, files=[{"path": "/s/c.mkv", "basename": "c.mkv"}])]
    listing = tree.listing(scenes)
    for episode in listing.episodes:
        path = layout.layout_path("Example Studio (2010)", episode, episode.scene.files[0].path)
        folder, season, name = path.split("/")
        assert folder == "Example Studio (2010)" and season == f"Season {episode.season:02d}"
        assert name.endswith(episode.scene.files[0].path.rsplit(".", 1)[1]) and "/" not in name
        assert len(name.encode()) <= 255
        read = layout.parse_name(path)
        assert (read.season, read.episode) == (episode.season, episode.index)
        if episode.season == tree.UNDATED:
            assert read.scene_id == episode.scene.id
        elif episode.released and episode.index >= 10101:
            assert read.date == episode.released and read.place == episode.index % 100
        assert layout.scanner_skips(path) is None
        assert tv_scanner_reads(path) == {"show": folder, "season": episode.season, "episode": episode.index}


def test_a_name_without_s2ps_numbers_is_not_read_as_one():
    assert layout.parse_name("Studio - 2023-05-12 - Title.mp4") is None
    assert layout.parse_name("S00E0.mp4") is None
    assert layout.parse_name("Studio - S2023E139901 - x.mp4").date is None  # no 13th month: numbers only
    assert layout.parse_name("s01e02").episode == 2
    assert layout.scanner_skips("Title without numbers.mp4") is not None
    assert layout.scanner_skips("Studio/Title without numbers.mp4") is not None
    assert layout.scanner_skips("Studio/Studio - 2023-05-12 - Title.mp4") is None


@pytest.mark.integration
def test_a_library_laid_out_by_s2p_tv_layout_scans_into_every_scene(tmp_path, s2p, library):
    """docs/tv.md's layout, made by ``s2p tv-layout --links``, scanned by the fake Plex's TV scanner:
    every scene an episode, undated and same-day scenes too, none left out."""
    from fakeplex import FakePlex

    # Same-day scenes of one studio, and undated ones (the library has some already).
    library.add_scene("44", title="Clip C", date="2020-02-02", studio="1", files=[f"{STASH_ROOT}/a/clip c.mp4"])
    library.add_scene("45", title="Clip D", date="2020-02-02", studio="1", files=[f"{STASH_ROOT}/a/x/clip.mp4"])
    library.add_scene("46", title=None, date=None, studio="1", files=[f"{STASH_ROOT}/a/untitled.wmv"])
    undated = {sid for sid, s in library.scenes.items() if not s.get("date")}
    assert len(undated) >= 3
    config = write_config(tmp_path, s2p.settings.stash.url)
    links = tmp_path / "tv"
    result = run("tv-layout", "--json", "--links", str(links), config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    placed = json.loads(result.stdout)
    assert {p["scene"] for p in placed} == set(library.scenes)  # every scene, once per file
    assert len(placed) == sum(len(s["files"]) for s in library.scenes.values())
    for p in placed:  # the links point at the files as Plex sees them, through the path rules
        link = links / p["path"]
        assert link.is_symlink() and str(link.readlink()) == p["source"].replace(STASH_ROOT, PLEX_ROOT, 1)
    # Run again: the links are there already, nothing is made twice.
    again = run("tv-layout", "--links", str(links), config=config)
    assert again.returncode == 0 and f"0 made, {len(placed)} already there" in again.stderr

    plex = FakePlex()
    plex_root = "/plex/tv"
    plex.add_section(7, "Stash TV", [plex_root], agent=TV_ID, type="show")
    plex.start()
    try:
        files = {f"{plex_root}/{p['path']}": p["scene"] for p in placed}
        seen = plex.scan_tv(7, s2p.url + "/tv", sorted(files))
    finally:
        plex.stop()
    assert not seen["skipped"] and not seen["unmatched"], (seen["skipped"], seen["unmatched"])
    episodes = [i for i in plex.sections[7].items if i.type == "episode"]
    assert {i.parts[0].file: i.guid for i in episodes} == {
        path: f"{TV_ID}://episode/episode-{sid}" for path, sid in files.items()}
    assert {i.guid for i in episodes} == {f"{TV_ID}://episode/episode-{sid}" for sid in library.scenes}


@pytest.mark.integration
def test_tv_layout_writes_a_rename_plan_and_leaves_the_files_alone(tmp_path, fake_stash, library):
    config = write_config(tmp_path, fake_stash.url)
    plan = tmp_path / "plan.sh"
    name = library.studios["1"]["name"]
    refused = run("tv-layout", "--plan", str(plan), config=config)
    assert refused.returncode == 2 and "--root" in refused.stderr and not plan.exists()
    result = run("tv-layout", "--studio", name.lower(), "--root", "/stash/tv", "--plan", str(plan), config=config)
    assert result.returncode == 0, result.stderr
    text = plan.read_text()
    moves = [line for line in text.splitlines() if line.startswith("mv -n -- ")]
    assert len(moves) == sum(len(s["files"]) for s in library.scenes.values() if s["studio"] == "1")
    assert all(f"'/stash/tv/{name}/Season " in line for line in moves)
    printed = [line.split("\t") for line in result.stdout.splitlines()]
    assert {source for source, _ in printed} == {f["path"] for s in library.scenes.values() if s["studio"] == "1"
                                                 for f in s["files"]}
    unknown = run("tv-layout", "--studio", "Nobody Films", config=config)
    assert unknown.returncode == 2 and "no show for the studio 'Nobody Films'" in unknown.stderr
