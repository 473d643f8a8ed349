"""Poster shapes.  Tests that need Pillow are skipped without it; the rest
prove s2p serves the original (and says so) when Pillow is missing.
Install it to run them all: pip install -e '.[test,artwork]'."""

from __future__ import annotations

import io
import logging

import pytest

from s2p.artwork import shape
from s2p.artwork.shape import PosterShaper
from s2p.stash.client import FetchedImage

ORIGINAL = FetchedImage(b"\x89PNG not really", "image/png", None)


def no_pillow():
    return None


# ---------------------------------------------------------------- without Pillow

def test_without_pillow_the_original_is_served_and_said_once(caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    shaper = PosterShaper("letterbox", load_pillow=no_pillow)
    assert shaper.mode == "original" and shaper.variant == "poster" and not shaper.can_shape()
    assert shaper.poster(ORIGINAL, "letterbox") is ORIGINAL
    assert shaper.poster(ORIGINAL, "crop", "left") is ORIGINAL
    assert shaper.logo_poster(ORIGINAL, "crop") is ORIGINAL
    warnings = [r.getMessage() for r in caplog.records if "Pillow" in r.getMessage()]
    assert len(warnings) == 1 and "pip install Pillow" in warnings[0]


def test_original_mode_serves_the_original_and_still_offers_square_art():
    shaper = PosterShaper("original")
    assert shaper.variant == "poster" and shaper.poster(ORIGINAL, "original") is ORIGINAL
    assert shaper.can_square and not shaper.can_shape()


def test_square_art_is_a_centred_square_and_none_without_pillow():
    from PIL import Image

    shaper = PosterShaper("original")
    wide = Image.new("RGB", (1920, 1080), (200, 0, 0))
    wide.paste((0, 0, 200), (0, 0, 420, 1080))  # the left edge is blue: cut away by a centred crop
    data = io.BytesIO()
    wide.save(data, "PNG")
    square = shaper.square(FetchedImage(data.getvalue(), "image/png", None))
    assert square.content_type == "image/jpeg"
    with Image.open(io.BytesIO(square.content)) as result:
        assert result.size == (1000, 1000)
        red, green, blue = result.getpixel((5, 500))
        assert red > 150 and blue < 50
    assert PosterShaper("original", load_pillow=lambda: None).square(ORIGINAL) is None
    assert shaper.square(FetchedImage(b"not an image", "image/png", None)) is None


@pytest.mark.integration
def test_server_without_pillow_serves_stash_bytes_for_shaped_settings(start_s2p, fake_stash, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    monkeypatch.setattr(shape, "_import_pillow", no_pillow)
    s2p = start_s2p(fake_stash.url, artwork={"poster": "crop", "crop_anchor": "left"})
    item = s2p.get("/library/metadata/1").json()["MediaContainer"]["Metadata"][0]
    assert "/images/scene/1/poster/" in item["thumb"]
    poster = s2p.get(item["thumb"], timeout=10)
    assert poster.status_code == 200 and poster.content == fake_stash.library.image("scene", "1")
    assert sum("Pillow" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------- with Pillow

@pytest.fixture
def Image():
    return pytest.importorskip("PIL.Image")


def png(Image, size, paint) -> FetchedImage:
    picture = Image.new("RGB", size, (0, 0, 0))
    paint(picture)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return FetchedImage(out.getvalue(), "image/png", "Mon, 01 Jan 2024 00:00:00 GMT")


def thirds(Image, size, horizontal=True):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]

    def paint(picture):
        w, h = picture.size
        for i, colour in enumerate(colours):
            box = (i * w // 3, 0, (i + 1) * w // 3, h) if horizontal else (0, i * h // 3, w, (i + 1) * h // 3)
            picture.paste(colour, box)

    return png(Image, size, paint)


def decode(Image, image: FetchedImage):
    assert image.content_type == "image/jpeg"
    picture = Image.open(io.BytesIO(image.content))
    assert picture.format == "JPEG"
    return picture.convert("RGB")


def near(colour, expected, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def test_letterbox_keeps_the_whole_picture_on_a_black_2_3_canvas(Image):
    source = thirds(Image, (300, 168))
    result = decode(Image, PosterShaper("letterbox").poster(source, "letterbox"))
    assert result.size == (300, 450)
    assert near(result.getpixel((150, 5)), (0, 0, 0)) and near(result.getpixel((150, 444)), (0, 0, 0))
    middle = 225
    assert near(result.getpixel((20, middle)), (255, 0, 0))
    assert near(result.getpixel((150, middle)), (0, 255, 0))
    assert near(result.getpixel((280, middle)), (0, 0, 255))


@pytest.mark.parametrize("anchor,colour", [("left", (255, 0, 0)), ("center", (0, 255, 0)), ("right", (0, 0, 255)),
                                           ("top", (0, 255, 0))])
def test_crop_cuts_a_2_3_window_at_the_anchor(Image, anchor, colour):
    source = thirds(Image, (300, 100))
    result = decode(Image, PosterShaper("crop", anchor).poster(source, "crop", anchor))
    assert result.size == (66, 100)
    assert near(result.getpixel((33, 50)), colour)


@pytest.mark.parametrize("anchor,colour", [("top", (255, 0, 0)), ("center", (0, 255, 0)), ("bottom", (0, 0, 255))])
def test_crop_of_a_portrait_video_cuts_top_or_bottom(Image, anchor, colour):
    source = thirds(Image, (100, 450), horizontal=False)
    result = decode(Image, PosterShaper("crop", anchor).poster(source, "crop", anchor))
    assert result.size == (100, 150)
    assert near(result.getpixel((50, 75)), colour)


def test_big_screenshots_become_posters_of_at_most_1000_by_1500(Image):
    source = png(Image, (3000, 1600), lambda p: p.paste((90, 90, 90), (0, 0, 3000, 1600)))
    for mode in ("letterbox", "crop"):
        width, height = decode(Image, PosterShaper(mode).poster(source, mode)).size
        assert width <= 1000 and height <= 1500 and abs(width / height - 2 / 3) < 0.01


def test_a_transparent_logo_is_letterboxed_never_cropped(Image):
    def paint(picture):
        picture.paste((255, 255, 255, 255), (0, 0, 240, 120))

    logo = Image.new("RGBA", (240, 120), (0, 0, 0, 0))
    paint(logo)
    logo.paste((255, 255, 255, 0), (0, 0, 20, 120))  # a transparent left edge
    out = io.BytesIO()
    logo.save(out, "PNG")
    result = decode(Image, PosterShaper("crop").logo_poster(FetchedImage(out.getvalue(), "image/png"), "crop"))
    assert result.size == (240, 360)
    assert near(result.getpixel((120, 180)), (255, 255, 255))
    assert near(result.getpixel((5, 180)), (0, 0, 0))  # transparency became black
    assert near(result.getpixel((120, 10)), (0, 0, 0))


def test_undecodable_bytes_are_served_unchanged(Image, caplog):
    caplog.set_level(logging.WARNING, logger="s2p")
    assert PosterShaper("letterbox").poster(ORIGINAL, "letterbox") is ORIGINAL
    assert "serving it unchanged" in caplog.text


@pytest.mark.integration
def test_server_letterboxes_posters_but_not_backgrounds_or_performers(start_s2p, fake_stash, Image):
    s2p = start_s2p(fake_stash.url, artwork={"poster": "letterbox"})
    item = s2p.get("/library/metadata/1").json()["MediaContainer"]["Metadata"][0]
    assert "/images/scene/1/poster-letterbox/" in item["thumb"]
    poster = s2p.get(item["thumb"], timeout=10)
    assert poster.status_code == 200 and poster.headers["Content-Type"] == "image/jpeg"
    width, height = decode(Image, FetchedImage(poster.content, "image/jpeg")).size
    assert (width, height) == (320, 480)
    assert s2p.get(item["art"], timeout=10).content == fake_stash.library.image("scene", "1")
    role = s2p.get(item["Role"][0]["thumb"], timeout=10)
    assert role.content == fake_stash.library.image("performer", "1")
    # Revalidation works for shaped posters too.
    again = s2p.get(item["thumb"], headers={"If-None-Match": poster.headers["ETag"]}, timeout=10)
    assert again.status_code == 304


@pytest.mark.integration
def test_server_uses_the_studio_logo_letterboxed_when_a_scene_has_no_cover(start_s2p, fake_stash, Image):
    s2p = start_s2p(fake_stash.url, artwork={"poster": "crop", "crop_anchor": "right"})
    item = s2p.get("/library/metadata/5").json()["MediaContainer"]["Metadata"][0]
    assert "/images/scene/5/poster-crop-right/" in item["thumb"]
    poster = s2p.get(item["thumb"], timeout=10)
    # The studio's 240x120 picture, whole, on a 2:3 canvas.
    assert decode(Image, FetchedImage(poster.content, "image/jpeg")).size == (240, 360)
