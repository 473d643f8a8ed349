"""The image route as Plex's image fetcher uses it: real HTTP to s2p under
waitress, which fetches from the fake Stash over real HTTP."""

from __future__ import annotations

import http.client
import logging
import os
import stat
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
import requests

from helpers import API_KEY

IDENT = "tv.plex.agents.custom.s2p"


def metadata(s2p, rating_key: str) -> dict:
    response = s2p.get(f"/library/metadata/{rating_key}")
    assert response.status_code == 200, response.text
    return response.json()["MediaContainer"]["Metadata"][0]


def every_url(item: dict) -> list[str]:
    urls = [item.get("thumb"), item.get("art")] + [i["url"] for i in item.get("Image", [])]
    urls += [r["thumb"] for r in item.get("Role", []) if "thumb" in r]
    return [u for u in urls if u]


def parts(url: str) -> tuple[str, str, str, str, str]:
    """(kind, id, variant, version, signature) of an image URL."""
    split = urlsplit(url)
    assert not split.query
    _, images, kind, entity_id, variant, version, signature = split.path.split("/")
    assert images == "images"
    return kind, entity_id, variant, version, signature


def stash_bytes(library, kind: str, entity_id: str) -> bytes:
    return library.image(kind, entity_id)


def signed(s2p, kind: str, entity_id: str, variant: str, version: str = "1700000000") -> str:
    signature = s2p.services.signer().sign(kind, entity_id, variant, version)
    return f"/images/{kind}/{entity_id}/{variant}/{version}/{signature}"


def raw_get(s2p, path: str) -> tuple[int, bytes]:
    """A request sent exactly as written (no client-side path clean-up)."""
    split = urlsplit(s2p.url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------- serving

@pytest.mark.integration
def test_every_url_in_the_metadata_serves_exactly_stash_bytes(s2p, fake_stash):
    item = metadata(s2p, "1")
    urls = every_url(item)
    kinds = {parts(u)[0] for u in urls}
    assert kinds == {"scene", "performer", "studio", "group"}
    for url in urls:
        assert url.startswith(s2p.url + "/images/")
        assert API_KEY not in url and "apikey" not in url.lower()
        kind, entity_id, variant, version, signature = parts(url)
        assert version.isdigit() and len(signature) == 22
        response = s2p.get(url, timeout=10)
        assert response.status_code == 200, (url, response.text)
        if variant == "square":  # made from the screenshot (Pillow is installed here)
            assert response.headers["Content-Type"] == "image/jpeg" and response.content.startswith(b"\xff\xd8")
        else:
            assert response.content == stash_bytes(fake_stash.library, kind, entity_id)
            assert response.headers["Content-Type"] == "image/png"
        assert API_KEY not in str(response.headers)
    # s2p authenticated to Stash with the header, never the query string.
    image_requests = [h for h in fake_stash.standin.headers_seen if h.get("Apikey")]
    assert image_requests and all(h["Apikey"] == API_KEY for h in image_requests)


@pytest.mark.integration
def test_images_lists_every_choice_with_working_urls(s2p, fake_stash):
    response = s2p.get("/library/metadata/1/images")
    mc = response.json()["MediaContainer"]
    assert mc["identifier"] == IDENT and mc["size"] == len(mc["Image"])
    by_type: dict[str, list[str]] = {}
    for image in mc["Image"]:
        by_type.setdefault(image["type"], []).append(image["url"])
    assert set(by_type) == {"coverPoster", "background", "backgroundSquare", "clearLogo", "snapshot"}
    # The scene's screenshot first, then its group's front cover.
    assert [parts(u)[:3] for u in by_type["coverPoster"]] == [("scene", "1", "poster"), ("group", "1", "front")]
    # Scene 1's studio has an image of its own (the parent's is not needed).
    assert [parts(u)[:2] for u in by_type["clearLogo"]] == [("studio", "2")]
    for urls in by_type.values():
        for url in urls:
            assert s2p.get(url, timeout=10).status_code == 200


@pytest.mark.integration
def test_tag_and_group_images_are_served_where_they_exist(s2p, fake_stash):
    tag = s2p.get(signed(s2p, "tag", "1", "image"))
    assert tag.status_code == 200 and tag.content == fake_stash.library.image("tag", "1")
    group = s2p.get(signed(s2p, "group", "1", "front"))
    assert group.status_code == 200 and group.content == fake_stash.library.image("group", "1")
    # Tag 2 and every group's back cover are Stash's default=true stand-ins.
    assert s2p.get(signed(s2p, "tag", "2", "image")).status_code == 404
    assert s2p.get(signed(s2p, "group", "1", "back")).status_code == 404


@pytest.mark.integration
def test_scene_without_cover_gets_its_studio_image_as_poster_and_no_background(s2p, fake_stash):
    # Stash answers scene 5's screenshot with its default SVG: not a picture to offer.
    assert fake_stash.library.content_type("scene", "5") == "image/svg+xml"
    item = metadata(s2p, "5")
    poster = s2p.get(item["thumb"], timeout=10)
    assert poster.status_code == 200
    assert poster.content == fake_stash.library.image("studio", "1")
    assert b"<svg" not in poster.content
    background = s2p.get(item["art"], timeout=10)
    assert background.status_code == 404 and background.json()["status"] == 404
    clear_logo = [i["url"] for i in item["Image"] if i["type"] == "clearLogo"]
    assert [parts(u)[:2] for u in clear_logo] == [("studio", "1")]
    # Now s2p knows: later answers offer no background that would 404, and the poster stays.
    again = metadata(s2p, "5")
    assert "art" not in again and again["thumb"] == item["thumb"]
    assert not [i for i in again["Image"] if i["type"] in ("background", "snapshot")]


@pytest.mark.integration
def test_no_cover_and_no_studio_picture_means_no_picture_url_once_known(s2p, fake_stash):
    fake_stash.library.add_scene("20", title="Bare", date="2024-01-01", studio="3", cover=False,
                                 files=["/stash/library/Studio Ümlaut/bare.mp4"])
    item = metadata(s2p, "20")
    assert s2p.get(item["thumb"], timeout=10).status_code == 404  # the one request that finds out
    again = metadata(s2p, "20")
    assert "thumb" not in again and "art" not in again
    # A cover set in Stash (a newer scene) is offered again at once.
    fake_stash.library.update_scene("20", cover=True, updated_at="2026-01-01T00:00:00Z")
    s2p.services.scenes.forget("20")
    fresh = metadata(s2p, "20")
    assert requests.get(fresh["thumb"], timeout=10).status_code == 200 and "art" in fresh


@pytest.mark.integration
def test_head_answers_headers_without_a_body(s2p, fake_stash):
    url = metadata(s2p, "1")["thumb"]
    response = requests.head(url, timeout=10)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(fake_stash.library.image("scene", "1"))
    assert response.content == b""


# ---------------------------------------------------------------- refusing

@pytest.mark.integration
def test_unsigned_or_wrongly_signed_urls_are_403_and_stash_is_not_asked(s2p, fake_stash):
    good = metadata(s2p, "1")["thumb"]
    kind, entity_id, variant, v, sig = parts(good)
    other = s2p.services.signer().sign(kind, "2", variant, v)
    fake_stash.standin.reset_counts()
    bad = [
        f"/images/{kind}/{entity_id}/{variant}",  # unsigned
        f"/images/{kind}/{entity_id}/{variant}?v={v}&s={sig}",  # the signature as a query string
        f"/images/{kind}/{entity_id}/{variant}/{v}/AAAAAAAAAAAAAAAAAAAAAA",  # wrong
        f"/images/{kind}/{entity_id}/{variant}/{int(v) + 1}/{sig}",  # other version
        f"/images/{kind}/{entity_id}/{variant}/{v}/{other}",  # signature of scene 2
        f"/images/{kind}/{entity_id}/background/{v}/{sig}",  # other variant
        f"/images/{kind}/{entity_id}/{variant}/{v}/{sig[:-1]}",  # truncated
        f"/images/{kind}/{entity_id}/{variant}/{v}/{sig}x",  # longer
        f"/images/{kind}/{entity_id}/{variant}/0{v}/{sig}",  # the same number, spelt otherwise
    ]
    for path in bad:
        response = s2p.get(path)
        assert response.status_code == 403, path
        assert response.json()["status"] == 403
        assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers
        assert "Traceback" not in response.text
    assert fake_stash.standin.counts["image"] == 0 and fake_stash.standin.graphql_requests == 0


@pytest.mark.integration
def test_signed_urls_for_unknown_entities_are_404(s2p, fake_stash):
    for path in (signed(s2p, "scene", "999", "poster"), signed(s2p, "scene", "999", "background"),
                 signed(s2p, "performer", "999", "image"), signed(s2p, "studio", "999", "image"),
                 signed(s2p, "group", "999", "front"),
                 # Known entities whose image is Stash's stand-in (default=true).
                 signed(s2p, "performer", "3", "image"), signed(s2p, "studio", "3", "image")):
        response = s2p.get(path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404
        # An error is never cached (the year-long caching is for pictures only).
        assert response.headers["Cache-Control"] == "no-store"
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers


@pytest.mark.parametrize("path", [
    "/images/scene/../../etc/passwd",
    "/images/../etc/passwd",
    "/images/scene/%2e%2e/poster",
    "/images/scene/..%2F..%2Fetc/poster",
    "/images/scene/1/..%2F..%2Fetc%2Fpasswd",
    "/images/scene/1%00/poster",
    "/images/scene/-1/poster",
    "/images/scene/1/nothing",
    "/images/file/1/image",
    "/images/scene/1/poster/extra",
    "/images/scene/1/poster/1700000000/..%2F..%2Fetc%2Fpasswd",
    "/images/scene/1/poster/1700000000/sig/more",
    "/images/scene/1/poster/../../../../etc/passwd",
    "/images/http:%2F%2Fevil.example%2Fx.png/1/image",
])
@pytest.mark.integration
def test_traversal_and_malformed_paths_never_reach_stash(s2p, fake_stash, path):
    fake_stash.standin.reset_counts()
    status, body = raw_get(s2p, path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"Traceback" not in body
    assert fake_stash.standin.counts["image"] == 0 and fake_stash.standin.graphql_requests == 0


# ---------------------------------------------------------------- caching

@pytest.mark.integration
def test_revalidation_is_answered_from_the_url_alone(s2p, fake_stash):
    url = metadata(s2p, "1")["thumb"]
    first = s2p.get(url, timeout=10)
    assert first.status_code == 200
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "max-age=31536000" in first.headers["Cache-Control"] and "immutable" in first.headers["Cache-Control"]
    # Scene 1 was last updated at 2024-01-01T12:00:00Z: the URL says so, and so does Last-Modified.
    assert last_modified == formatdate(1704110400, usegmt=True)
    fake_stash.stop()  # Stash is gone: revalidation must not need it
    again = s2p.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    since = s2p.get(url, headers={"If-Modified-Since": last_modified}, timeout=10)
    assert since.status_code == 304
    # A client with another copy gets the picture (from s2p's memory: Stash is down).
    other = s2p.get(url, headers={"If-None-Match": '"something-else"'}, timeout=10)
    assert other.status_code == 200 and other.content == first.content
    older = s2p.get(url, headers={"If-Modified-Since": formatdate(1704110399, usegmt=True)}, timeout=10)
    assert older.status_code == 200


@pytest.mark.integration
def test_a_changed_scene_gets_a_new_url_and_etag(s2p, fake_stash):
    before = metadata(s2p, "1")["thumb"]
    first = requests.get(before, timeout=10)
    fake_stash.library.update_scene("1", updated_at="2024-06-01T00:00:00+00:00")
    s2p.services.scenes.forget("1")
    after = metadata(s2p, "1")["thumb"]
    assert after != before
    second = requests.get(after, timeout=10)
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    stale = requests.get(after, headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert stale.status_code == 200  # the old ETag does not validate the new version


@pytest.mark.integration
def test_warm_cache_serves_without_asking_stash_again(s2p, fake_stash):
    url = metadata(s2p, "7")["thumb"]
    assert s2p.get(url, timeout=10).status_code == 200
    fake_stash.standin.reset_counts()
    for _ in range(5):
        assert s2p.get(url, timeout=10).status_code == 200
    assert fake_stash.standin.counts["image"] == 0


@pytest.mark.integration
def test_stash_down_answers_503_fast_never_a_hang(start_s2p, fake_stash):
    s2p = start_s2p(fake_stash.url, stash={"timeout": 0.5})
    url = metadata(s2p, "2")["thumb"]
    fake_stash.standin.fail("hang")
    response = s2p.get(url, timeout=10)
    assert response.status_code == 503
    assert response.elapsed.total_seconds() < 5  # a hang would be the 10 s client timeout; one Stash timeout is 0.5 s
    assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers
    assert API_KEY not in response.text


# ---------------------------------------------------------------- signatures over time and hosts

@pytest.mark.integration
def test_signatures_survive_a_restart_and_the_key_is_private(start_s2p, fake_stash, tmp_path):
    state = tmp_path / "shared-state"
    first = start_s2p(fake_stash.url, state={"dir": str(state)})
    url = metadata(first, "1")["thumb"]
    second = start_s2p(fake_stash.url, state={"dir": str(state)})
    path = urlsplit(url).path
    assert metadata(second, "1")["thumb"] == url.replace(first.url, second.url)
    assert second.get(path).status_code == 200
    key = state / "image-signing-key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # Another installation (another key) refuses the URL.
    third = start_s2p(fake_stash.url, state={"dir": str(tmp_path / "other-state")})
    assert third.get(path).status_code == 403


@pytest.mark.integration
def test_public_url_mode_signs_urls_on_the_public_base(start_s2p, fake_stash, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    s2p = start_s2p(fake_stash.url, provider={"public_url": "https://img.example.net/s2p"})
    item = metadata(s2p, "1")
    urls = every_url(item)
    match = s2p.match(type=1, filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4").json()
    urls.append(match["MediaContainer"]["Metadata"][0]["thumb"])
    assert all(u.startswith("https://img.example.net/s2p/images/") for u in urls)
    # The reverse proxy strips /s2p; the signature does not depend on the host or prefix.
    for url in urls:
        local = urlsplit(url).path.removeprefix("/s2p")
        assert s2p.get(local).status_code == 200, url
    assert "refuses images" not in caplog.text


def test_without_public_url_the_lan_warning_is_logged_once(s2p, fake_stash, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    for rating_key in ("1", "2", "1"):
        metadata(s2p, rating_key)
    s2p.match(type=1, filename="日本の夏.mp4")
    warnings = [r for r in caplog.records if "refuses images" in r.getMessage()]
    assert len(warnings) == 1
    assert s2p.url in warnings[0].getMessage() and "public_url" in warnings[0].getMessage()


@pytest.mark.integration
def test_the_api_key_is_in_no_log_line(s2p, fake_stash, caplog):
    caplog.set_level(logging.DEBUG)
    item = metadata(s2p, "1")
    for url in every_url(item):
        s2p.get(url, timeout=10)
    s2p.get(item["thumb"], headers={"If-None-Match": '"x"'}, timeout=10)
    s2p.get("/library/metadata/1/images")
    assert caplog.records
    assert API_KEY not in caplog.text
    # s2p's request log names the path, never the signature.
    signature = parts(item["thumb"])[4]
    own = [r.getMessage() for r in caplog.records if r.name.startswith("s2p")]
    assert any("/images/scene/1/" in line for line in own)
    assert not any(signature in line for line in own)
