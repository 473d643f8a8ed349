"""The provider routes as Plex calls them, over real HTTP to an s2p that
talks real HTTP to a fake Stash validating every document.

The same tests run against two servers: ``test_provider_contract`` (s2p in
this process, under waitress) and ``test_pyz_contract`` (``s2p.pyz`` in its
own process); each supplies the ``s2p`` and ``start_s2p`` fixtures."""

from __future__ import annotations

import re
import time

import pytest
import requests

from helpers import API_KEY, PLEX_ROOT

IDENT = "tv.plex.agents.custom.s2p"
RATING_KEY = re.compile(r"^[0-9]+$")


def container(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    mc = body["MediaContainer"]
    assert set(mc) >= {"offset", "totalSize", "identifier", "size"}
    assert mc["identifier"] == IDENT
    return mc


def assert_ids_safe(item: dict) -> None:
    assert RATING_KEY.match(item["ratingKey"]), item["ratingKey"]
    assert item["guid"] == f"{IDENT}://movie/{item['ratingKey']}"
    assert "/" not in item["ratingKey"]
    assert item["key"] == f"/library/metadata/{item['ratingKey']}"


# ---------------------------------------------------------------- registration

@pytest.mark.integration
@pytest.mark.parametrize("path", ["/", ""])
def test_registration_shape(s2p, path):
    response = s2p.get(path, allow_redirects=False, timeout=10)
    assert response.status_code == 200
    provider = response.json()["MediaProvider"]
    assert provider["identifier"] == IDENT
    assert provider["title"]
    assert provider["version"]
    assert provider["Types"] == [{"type": 1, "Scheme": [{"scheme": IDENT}]}]
    features = {f["type"]: f["key"] for f in provider["Feature"]}
    assert features == {"metadata": "/library/metadata", "match": "/library/metadata/matches"}


def test_configured_identifier_is_used_everywhere(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, provider={"identifier": "tv.plex.agents.custom.mine.v2"})
    assert s2p.get("/").json()["MediaProvider"]["Types"][0]["Scheme"][0]["scheme"] == "tv.plex.agents.custom.mine.v2"
    item = s2p.match(type=1, filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4").json()
    assert item["MediaContainer"]["Metadata"][0]["guid"] == "tv.plex.agents.custom.mine.v2://movie/1"


@pytest.mark.integration
def test_routes_answer_with_trailing_slash_without_redirect(s2p):
    response = s2p.get("/library/metadata/1/", allow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.json()["MediaContainer"]["Metadata"][0]["ratingKey"] == "1"


# ---------------------------------------------------------------- match

def test_match_by_relative_filename(s2p):
    mc = container(s2p.match(type=1, title="Office Affair", year=2023,
                             filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4"))
    assert mc["size"] == 1 and mc["totalSize"] == 1
    item = mc["Metadata"][0]
    assert_ids_safe(item)
    assert item["ratingKey"] == "1"
    assert item["type"] == "movie"
    assert item["title"] == "Office Affair"
    assert item["year"] == 2023
    assert item["score"] >= 95


def test_match_by_absolute_plex_path_through_the_rules(s2p):
    mc = container(s2p.match(type=1, filename=f"{PLEX_ROOT}/Harbour Films/Don't Stop [Director's Cut] (2022).mkv"))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["2"]
    assert mc["Metadata"][0]["score"] == 100


def test_duplicate_basenames_are_told_apart_by_folder(s2p):
    for folder, expected in (("Harbour Films", "5"), ("Studio Ümlaut", "6")):
        mc = container(s2p.match(type=1, filename=f"{folder}/extras/scene.mp4"))
        assert [m["ratingKey"] for m in mc["Metadata"]] == [expected]


def test_basename_alone_that_two_scenes_share_never_auto_matches(s2p):
    mc = container(s2p.match(type=1, filename="scene.mp4"))
    assert mc["size"] == 0 and mc["Metadata"] == []


def test_tie_is_listed_with_manual(s2p):
    mc = container(s2p.match(type=1, filename="scene.mp4", manual=1))
    assert sorted(m["ratingKey"] for m in mc["Metadata"]) == ["5", "6"]
    scores = [m["score"] for m in mc["Metadata"]]
    assert scores[0] == scores[1]
    for item in mc["Metadata"]:
        assert_ids_safe(item)


def test_match_by_unique_basename_and_unicode_paths(s2p):
    mc = container(s2p.match(type=1, filename="日本の夏.mp4"))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["8"]
    # macOS shares send decomposed Unicode (NFD): still the same file.
    import unicodedata
    mc = container(s2p.match(type=1, filename=unicodedata.normalize("NFD", "Studio Ümlaut/Café Crème.mp4")))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["3"]


def test_scene_with_two_files_matches_from_either(s2p):
    for name in ("Part 1 [1080p].mp4", "Part 1 [2160p].mp4"):
        mc = container(s2p.match(type=1, filename=f"Harbour Films/Harbour Nights/{name}"))
        assert [m["ratingKey"] for m in mc["Metadata"]] == ["7"]


def test_match_by_our_guid(s2p):
    mc = container(s2p.match(type=1, guid=f"{IDENT}://movie/3", title="whatever"))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["3"]
    assert mc["Metadata"][0]["score"] == 100


def test_foreign_guid_is_ignored_and_filename_decides(s2p):
    mc = container(s2p.match(type=1, guid="plex://movie/5d776", filename="日本の夏.mp4"))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["8"]


def test_match_by_title_is_offered_in_fix_match_but_never_automatic(s2p):
    auto = container(s2p.match(type=1, title="Office Affair", year=2023))
    assert auto["size"] == 0
    manual = container(s2p.match(type=1, title="office affair", year=2023, manual=1))
    assert manual["Metadata"][0]["ratingKey"] == "1"
    assert 0 < manual["Metadata"][0]["score"] <= 80


def test_fix_match_title_that_is_a_scene_id(s2p):
    mc = container(s2p.match(type=1, title="7", manual=1))
    assert mc["Metadata"][0]["ratingKey"] == "7"


def test_hints_as_query_parameters(s2p):
    response = s2p.post("/library/metadata/matches", params={"type": "1", "filename": "日本の夏.mp4"})
    assert [m["ratingKey"] for m in container(response)["Metadata"]] == ["8"]


def test_empty_match_shape(s2p):
    response = s2p.match(type=1, filename="Nowhere/nothing.mp4", title="Zzz Qqq Xxx")
    assert response.json() == {"MediaContainer": {"offset": 0, "totalSize": 0, "identifier": IDENT, "size": 0,
                                                  "Metadata": []}}


def test_non_movie_type_gets_an_empty_answer(s2p):
    assert container(s2p.match(type=2, filename="日本の夏.mp4"))["size"] == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_gets_400_json(s2p, body):
    response = s2p.post("/library/metadata/matches", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400 and error["error"]
    assert "Traceback" not in response.text


# What Plex's reference provider and the community providers accept: each
# odd optional value is left out and the file still matches by its name.
ODD_HINTS = [
    {"year": ""}, {"year": "soon"}, {"year": -5}, {"year": "2023"}, {"year": 2023.0}, {"type": "movie"},
    {"type": "1"}, {"ohash": "0123456789abcdef01"}, {"duration": 1234.5}, {"duration": "n/a"}, {"manual": 0},
    {"guid": "com.plexapp.agents.none://x?lang=xn&\u0000"}, {"title": {"nested": 1}}, {"title": ""},
    {"includeAdult": "maybe"}, {"filename": "Harbour Films/extras/scene.mp4", "extra": [1, {"a": None}]},
]


@pytest.mark.parametrize("odd", ODD_HINTS, ids=lambda odd: ",".join(odd))
def test_odd_optional_hints_are_left_out_and_the_match_goes_on(s2p, odd):
    hints = {"type": 1, "filename": "Harbour Films/extras/scene.mp4", **odd}
    mc = container(s2p.post("/library/metadata/matches", json=hints))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["5"], odd


@pytest.mark.parametrize("headers", [{"X-Plex-Container-Size": "5000"}, {"X-Plex-Container-Start": "-1"},
                                     {"X-Plex-Language": "x" * 200}, {"X-Plex-Container-Size": "lots"}])
def test_odd_plex_headers_are_clamped_or_left_out_on_every_route(s2p, headers):
    mc = container(s2p.post("/library/metadata/matches", json={"type": 1, "filename": "日本の夏.mp4"},
                            headers=headers))
    assert [m["ratingKey"] for m in mc["Metadata"]] == ["8"]
    assert container(s2p.get("/library/metadata/8", headers=headers))["Metadata"][0]["ratingKey"] == "8"
    assert s2p.get("/library/metadata/8/images", headers=headers).status_code == 200


def test_filename_with_dotdot_is_refused_not_matched(s2p):
    mc = container(s2p.match(type=1, filename="../../stash/library/国際/日本の夏.mp4"))
    assert mc["size"] == 0


# ---------------------------------------------------------------- metadata

def test_metadata_fields_and_types(s2p):
    mc = container(s2p.get("/library/metadata/1"))
    assert mc["size"] == 1 and mc["totalSize"] == 1 and mc["offset"] == 0
    item = mc["Metadata"][0]
    assert_ids_safe(item)
    assert item["type"] == "movie"
    assert item["title"] == "Office Affair"
    assert item["originallyAvailableAt"] == "2023-05-12"
    assert item["year"] == 2023
    assert item["summary"] == "Two colleagues stay late."
    assert item["studio"] == "Harbour Films Originals"
    assert item["Studio"] == [{"tag": "Harbour Films Originals"}, {"tag": "Harbour Films"}]
    assert item["contentRating"] == "XXX"
    assert isinstance(item["duration"], int) and item["duration"] == 1_800_000
    assert [g["tag"] for g in item["Genre"]] == ["Office", "Blonde"]
    assert [(r["tag"], r["order"]) for r in item["Role"]] == [("Jane Doe", 1), ("Zoë Martín", 2)]
    assert all(r["thumb"].startswith("http://") for r in item["Role"])
    assert item["Collection"] == [{"tag": "Harbour Nights"}]
    assert item["Guid"] == [{"id": "stashdb://6f1c8c1e-0000-4000-8000-000000000001"}]
    for field in ("thumb", "art"):
        assert item[field].startswith(s2p.url + "/images/scene/1/")
    assert {i["type"] for i in item["Image"]} >= {"coverPoster", "background", "clearLogo"}


def test_metadata_partial_dates_and_title_fallback(s2p):
    year_only = container(s2p.get("/library/metadata/2"))["Metadata"][0]
    assert year_only["year"] == 2022 and year_only["originallyAvailableAt"] == "2022-01-01"
    month = container(s2p.get("/library/metadata/3"))["Metadata"][0]
    assert month["originallyAvailableAt"] == "2021-07-01"
    untitled = container(s2p.get("/library/metadata/4"))["Metadata"][0]
    assert untitled["title"] == "clip_0457"
    # Required by Plex's documentation: empty when unknown, as Plex's example provider sends it.
    assert untitled["originallyAvailableAt"] == "" and "year" not in untitled


def test_year_only_partial_dates_setting(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, provider={"partial_dates": "year_only"})
    item = container(s2p.get("/library/metadata/2"))["Metadata"][0]
    assert item["year"] == 2022 and item["originallyAvailableAt"] == ""


def test_performer_without_photo_has_no_thumb(s2p):
    item = container(s2p.get("/library/metadata/2"))["Metadata"][0]
    assert item["Role"] == [{"tag": "Ana O'Neil", "order": 1}]


@pytest.mark.parametrize("rating_key", ["999", "abc", "1.5", "-1", "s1"])
def test_unknown_or_malformed_rating_key_is_404_json(s2p, rating_key):
    response = s2p.get(f"/library/metadata/{rating_key}")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_images_sub_path_lists_artwork(s2p):
    response = s2p.get("/library/metadata/1/images")
    mc = container(response)
    types = [i["type"] for i in mc["Image"]]
    assert "coverPoster" in types and "background" in types
    assert mc["size"] == len(mc["Image"])
    assert s2p.get("/library/metadata/999/images").status_code == 404


@pytest.mark.parametrize("sub", ["extras", "children", "similar/deeper"])
def test_other_sub_paths_answer_empty(s2p, sub):
    mc = container(s2p.get(f"/library/metadata/1/{sub}"))
    assert mc["size"] == 0 and mc["Metadata"] == []


# ---------------------------------------------------------------- images

@pytest.mark.integration
def test_images_are_served_without_leaking_the_key(s2p, fake_stash):
    item = container(s2p.get("/library/metadata/1"))["Metadata"][0]
    urls = [item["thumb"], item["art"]] + [i["url"] for i in item["Image"]] + [r["thumb"] for r in item["Role"]]
    for url in urls:
        assert API_KEY not in url and "apikey" not in url.lower()
        response = s2p.get(url, timeout=10)
        assert response.status_code == 200
        # Square art is made from the screenshot (where Pillow is installed); the rest is Stash's own.
        assert response.headers["Content-Type"] == ("image/jpeg" if "/square/" in url else "image/png")
        assert API_KEY not in str(response.headers)
    poster = s2p.get(item["thumb"], timeout=10).content
    assert poster == fake_stash.library.image("scene", "1")
    # s2p authenticated to Stash with the header, never the query string.
    image_requests = [h for h in fake_stash.standin.headers_seen if h.get("Apikey")]
    assert image_requests and all(h["Apikey"] == API_KEY for h in image_requests)


def test_public_url_makes_every_image_absolute_on_it(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, provider={"public_url": "https://img.example.net/s2p"})
    item = container(s2p.get("/library/metadata/1"))["Metadata"][0]
    urls = [item["thumb"], item["art"]] + [i["url"] for i in item["Image"]] + [r["thumb"] for r in item["Role"]]
    assert urls and all(u.startswith("https://img.example.net/s2p/images/") for u in urls)


# ---------------------------------------------------------------- Stash trouble

def test_stash_down_gives_a_fast_empty_match_and_503_metadata(start_s2p, fake_stash):
    # Without the scene index every match asks Stash (test_index covers matching from memory).
    s2p = start_s2p(fake_stash.url, index={"enabled": False})
    fake_stash.stop()
    started = time.monotonic()
    mc = container(s2p.match(type=1, filename="Harbour Films/extras/scene.mp4"))
    assert mc["size"] == 0
    assert time.monotonic() - started < 3
    response = s2p.get("/library/metadata/1")
    assert response.status_code == 503
    assert response.json()["status"] == 503


@pytest.mark.integration
def test_slow_stash_is_cut_off_by_the_timeout(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5}, index={"enabled": False})
    fake_stash.standin.fail("hang")
    started = time.monotonic()
    mc = container(s2p.match(type=1, filename="Harbour Films/extras/scene.mp4"))
    assert mc["size"] == 0
    assert time.monotonic() - started < 2.5


def test_wrong_api_key_is_reported_as_unavailable(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"api_key": "not-the-key-at-all"})
    assert container(s2p.match(type=1, filename="日本の夏.mp4"))["size"] == 0
    response = s2p.get("/library/metadata/1")
    assert response.status_code == 503
    # Plex is told that Stash cannot be asked, not where Stash is; the operator's /healthz says why.
    assert "/healthz" in response.json()["detail"] and fake_stash.url not in response.text
    assert "not-the-key-at-all" not in response.text
    assert "api_key" in s2p.get("/healthz").json()["stash"]["error"]


def test_a_stash_outage_does_not_tell_plex_where_stash_is(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, index={"enabled": False})
    fake_stash.stop()
    response = s2p.get("/library/metadata/1")
    assert response.status_code == 503 and fake_stash.url.split("//")[1] not in response.text


def test_stash_errors_do_not_leak_into_responses(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url)
    fake_stash.standin.fail("error")
    response = s2p.get("/library/metadata/1")
    assert response.status_code == 503
    assert API_KEY not in response.text and "Traceback" not in response.text


def test_metadata_is_cached_and_concurrent_requests_coalesce(s2p, fake_stash):
    from concurrent.futures import ThreadPoolExecutor

    fake_stash.standin.latency = 0.2
    fake_stash.standin.reset_counts()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: s2p.get("/library/metadata/7").status_code, range(16)))
    assert statuses == [200] * 16
    assert fake_stash.standin.graphql_requests == 1
    fake_stash.standin.latency = 0


@pytest.mark.integration
def test_head_on_the_metadata_routes_answers_headers_only(s2p):
    for path in ("/library/metadata/1", "/library/metadata/1/images", "/library/metadata/1/extras", "/"):
        got = s2p.get(path)
        head = s2p.head(path, timeout=10)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["Content-Type"].startswith("application/json")
        assert int(head.headers["Content-Length"]) == len(got.content), path
    assert s2p.head("/library/metadata/999999", timeout=10).status_code == 404
