"""Poster shapes: Stash's 16:9 screenshots as Plex's 2:3 posters.

``letterbox`` fits the whole picture onto a black 2:3 canvas; ``crop`` cuts
a 2:3 window out of it at the configured anchor.  Shaping needs Pillow,
an optional extra (``pip install '.[artwork]'`` in a checkout); without it the original
is served and s2p says so once.  Performer photos are never shaped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

from s2p.stash.client import FetchedImage

log = logging.getLogger(__name__)

# Plex shows posters at about 1000x1500 at most; bigger only costs bytes.
MAX_WIDTH, MAX_HEIGHT = 1000, 1500
JPEG_QUALITY = 90
# Part of every shaped image's ETag: bump it when the output changes.
RENDER_VERSION = "1"

ANCHORS = ("center", "left", "right", "top", "bottom")


def _import_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


class PosterShaper:
    def __init__(self, mode: str = "original", anchor: str = "center", *,
                 load_pillow: Callable[[], Any] | None = None):
        self.wanted = mode
        self.anchor = anchor if anchor in ANCHORS else "center"
        # Pillow, when installed: square art is offered with it whatever the poster shape.
        self._pillow = (load_pillow or _import_pillow)()
        self._image = self._pillow if mode != "original" else None
        if mode != "original" and self._image is None:
            log.warning('[artwork] poster = "%s" needs Pillow, which is not installed: posters are served as '
                        "Stash has them. Fix: pip install Pillow (in a checkout: .venv/bin/pip install "
                        "'.[artwork]')", mode)

    @property
    def mode(self) -> str:
        """The shape actually applied: the wanted one, or "original" without Pillow."""
        return self.wanted if self._image is not None else "original"

    @property
    def variant(self) -> str:
        """The image-route variant of a scene poster in this shape."""
        if self.mode == "letterbox":
            return "poster-letterbox"
        if self.mode == "crop":
            return f"poster-crop-{self.anchor}"
        return "poster"

    def can_shape(self) -> bool:
        return self._image is not None

    @property
    def can_square(self) -> bool:
        return self._pillow is not None

    def poster(self, image: FetchedImage, shape: str, anchor: str = "center") -> FetchedImage:
        """``image`` as a 2:3 poster ("letterbox" or "crop"); unchanged for
        "original", without Pillow, or when the bytes cannot be decoded."""
        if shape == "original" or self._image is None:
            return image
        try:
            with self._image.open(io.BytesIO(image.content)) as source:
                source.load()
                picture = _flatten(self._image, source)
                shaped = (_letterbox(self._image, picture) if shape == "letterbox"
                          else _crop(self._image, picture, anchor))
        except Exception as exc:  # Pillow raises many kinds for bad input; serve the original
            log.warning("cannot reshape an image (%s); serving it unchanged", type(exc).__name__)
            return image
        out = io.BytesIO()
        shaped.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return FetchedImage(out.getvalue(), "image/jpeg", image.last_modified)

    def square(self, image: FetchedImage) -> FetchedImage | None:
        """``image`` cut to a centred square (Plex's square art), at most
        1000x1000; ``None`` without Pillow or when the bytes cannot be decoded."""
        if self._pillow is None:
            return None
        try:
            with self._pillow.open(io.BytesIO(image.content)) as source:
                source.load()
                picture = _flatten(self._pillow, source)
                side = min(picture.size)
                left, top = (picture.width - side) // 2, (picture.height - side) // 2
                squared = picture.crop((left, top, left + side, top + side))
                if side > MAX_WIDTH:
                    squared = squared.resize((MAX_WIDTH, MAX_WIDTH), self._pillow.LANCZOS)
        except Exception as exc:  # Pillow raises many kinds for bad input
            log.warning("cannot square an image (%s); none offered", type(exc).__name__)
            return None
        out = io.BytesIO()
        squared.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return FetchedImage(out.getvalue(), "image/jpeg", image.last_modified)

    def logo_poster(self, image: FetchedImage, shape: str) -> FetchedImage:
        """A studio image standing in for a poster: letterboxed in either
        shaped mode (cropping would cut a logo's lettering)."""
        return self.poster(image, "letterbox") if shape != "original" else image


def _flatten(Image: Any, source: Any) -> Any:
    """RGB on black: logos often have transparency, JPEG has none."""
    if source.mode in ("RGBA", "LA") or (source.mode == "P" and "transparency" in source.info):
        rgba = source.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (0, 0, 0))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return source.convert("RGB")


def _fit(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _letterbox(Image: Any, picture: Any) -> Any:
    width, height = picture.size
    # The smallest 2:3 canvas that holds the whole picture, then at most 1000x1500.
    canvas_w = max(width, -(-height * 2 // 3))
    canvas_w, canvas_h = _fit(canvas_w, canvas_w * 3 // 2)
    scale = min(canvas_w / width, canvas_h / height)
    inner = picture.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS)
    canvas = Image.new("RGB", (canvas_w, canvas_h), (0, 0, 0))
    canvas.paste(inner, ((canvas_w - inner.width) // 2, (canvas_h - inner.height) // 2))
    return canvas


def _crop(Image: Any, picture: Any, anchor: str) -> Any:
    width, height = picture.size
    if width * 3 > height * 2:  # wider than 2:3: cut the sides
        crop_w, crop_h = max(1, height * 2 // 3), height
        room = width - crop_w
        x = 0 if anchor == "left" else room if anchor == "right" else room // 2
        box = (x, 0, x + crop_w, crop_h)
    else:  # taller (portrait video): cut top and bottom
        crop_w, crop_h = width, max(1, width * 3 // 2)
        room = height - crop_h
        y = 0 if anchor == "top" else room if anchor == "bottom" else room // 2
        box = (0, y, crop_w, y + crop_h)
    cropped = picture.crop(box)
    size = _fit(*cropped.size)
    return cropped.resize(size, Image.LANCZOS) if size != cropped.size else cropped
