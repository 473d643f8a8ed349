"""Image URLs for Plex: absolute, signed, on s2p's own image route.

A URL names an entity, a variant and a version, never a Stash URL, so the
route can only serve images of entities that exist.  The version is the
entity's last change in Unix seconds (Stash's own cache-buster), so a
changed image gets a new URL that Plex fetches again, and one URL always
stands for the same picture: the route can answer a revalidation, and send
``Last-Modified``, without asking Stash.  The signature covers kind, id,
variant and version (not the host), so a URL stays valid when the public
hostname in front of s2p changes.  Version and signature are path segments,
not a query string, so caches that ignore query strings still keep every
version apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Iterable

from s2p.stash.models import GroupRef, PerformerRef, Scene, SceneSummary, StudioRef, image_version, is_placeholder
from s2p.artwork.shape import ANCHORS
from s2p.artwork.signing import ImageSigner

if TYPE_CHECKING:
    import falcon

log = logging.getLogger(__name__)

SCENE_POSTERS = ("poster", "poster-letterbox") + tuple(f"poster-crop-{a}" for a in ANCHORS)
VARIANTS: dict[str, tuple[str, ...]] = {
    "scene": SCENE_POSTERS + ("background", "square"),
    "performer": ("image",),
    "studio": ("image",),
    "tag": ("image",),
    "group": ("front", "back"),
}

# Unix seconds, or "x" and a hash when Stash's version is not a time.
VERSION = re.compile(r"[0-9]{1,12}|x[0-9a-f]{10}")


def known(kind: str, variant: str) -> bool:
    return variant in VARIANTS.get(kind, ())


def poster_shape(variant: str) -> tuple[str, str]:
    """``(shape, anchor)`` of a scene poster variant."""
    if variant == "poster-letterbox":
        return "letterbox", "center"
    if variant.startswith("poster-crop-"):
        return "crop", variant.removeprefix("poster-crop-")
    return "original", "center"


def version_of(value: str | None) -> str:
    """A URL version from Stash's ``t=`` value or an ``updated_at`` time."""
    if not value:
        return "0"
    value = value.strip()
    if value.isdigit() and len(value) <= 12:
        return str(int(value))
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "x" + hashlib.sha256(value.encode()).hexdigest()[:10]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return str(max(0, int(moment.timestamp())))


def combine(versions: Iterable[str]) -> str:
    """One version for an image that depends on several entities."""
    versions = list(versions)
    if all(v.isdigit() for v in versions):
        return str(max((int(v) for v in versions), default=0))
    return "x" + hashlib.sha256("/".join(versions).encode()).hexdigest()[:10]


def seconds(version: str) -> int | None:
    """The Unix time a version stands for, when it is one."""
    return int(version) if version.isdigit() and int(version) > 0 else None


class RouteImageLinks:
    """Builds ``<base>/images/<kind>/<id>/<variant>/<version>/<signature>``."""

    def __init__(self, base_url: str, signer: ImageSigner, poster_variant: str = "poster", *,
                 covers: "CoverMemory | None" = None, square: bool = False):
        self._square = square  # a square variant can be made (Pillow is installed)
        self.base = base_url.rstrip("/")
        self._signer = signer
        self._poster = poster_variant if poster_variant in SCENE_POSTERS else "poster"
        self._covers = covers

    def known_without_cover(self, scene: SceneSummary) -> bool:
        """Whether Stash is known to have no cover for this version of the scene."""
        return (self._covers is not None and isinstance(scene, Scene)
                and self._covers.lacks(scene.id, scene.paths.screenshot))

    def url(self, kind: str, entity_id: str, variant: str, version: str) -> str:
        signature = self._signer.sign(kind, entity_id, variant, version)
        return f"{self.base}/images/{kind}/{entity_id}/{variant}/{version}/{signature}"

    def scene(self, scene: SceneSummary, variant: str) -> str | None:
        """``poster`` (shaped as configured), ``background`` or ``snapshot``
        (both the screenshot as Stash has it)."""
        if isinstance(scene, Scene) and not scene.paths.screenshot:
            return None
        version = version_of(scene.updated_at)
        coverless = self.known_without_cover(scene)
        if variant == "poster":
            # The poster falls back to the studio's image: its changes count too.
            studios = studio_chain(scene.studio) if isinstance(scene, Scene) else []
            if coverless and all(is_placeholder(s.image_path) for s in studios):
                return None  # no cover and no studio picture: the URL could only answer 404
            version = combine([version] + [version_of(image_version(s.image_path)) for s in studios
                                           if not is_placeholder(s.image_path)])
            return self.url("scene", scene.id, self._poster, version)
        if variant in ("background", "snapshot"):
            return None if coverless else self.url("scene", scene.id, "background", version)
        if variant == "square":
            return None if coverless or not self._square else self.url("scene", scene.id, "square", version)
        return None

    def performer(self, performer: PerformerRef) -> str | None:
        if is_placeholder(performer.image_path):
            return None
        return self.url("performer", performer.id, "image", version_of(image_version(performer.image_path)))

    def studio(self, studio: StudioRef) -> str | None:
        if is_placeholder(studio.image_path):
            return None
        return self.url("studio", studio.id, "image", version_of(image_version(studio.image_path)))

    def group(self, group: GroupRef) -> str | None:
        if is_placeholder(group.front_image_path):
            return None
        return self.url("group", group.id, "front", version_of(image_version(group.front_image_path)))


def studio_chain(studio: StudioRef | None) -> list[StudioRef]:
    """A studio and its parents, nearest first (cycles cut)."""
    found: list[StudioRef] = []
    while studio is not None and len(found) < 10 and studio.id not in {s.id for s in found}:
        found.append(studio)
        studio = studio.parent_studio
    return found


class CoverMemory:
    """Scenes whose cover Stash was seen to lack (it served its stand-in),
    by the screenshot URL of that version: a new cover comes with a newer
    scene, hence a new URL, and the memory no longer applies.  Bounded."""

    LIMIT = 100_000

    def __init__(self, limit: int = LIMIT):
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def note(self, scene_id: str, screenshot: str) -> None:
        with self._lock:
            self._seen[scene_id] = screenshot
            self._seen.move_to_end(scene_id)
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)

    def lacks(self, scene_id: str, screenshot: str | None) -> bool:
        with self._lock:
            return screenshot is not None and self._seen.get(scene_id) == screenshot


class LinkFactory:
    """The links for one request: on ``[provider] public_url``, else on the
    host Plex called (said once, since Plex 1.43.5+ refuses LAN images)."""

    def __init__(self, public_url: str, signer: ImageSigner, poster_variant: str = "poster", *,
                 pushing: bool = False, covers: CoverMemory | None = None, square: bool = False):
        self._covers = covers
        self._square = square
        self._public_url = public_url
        self._signer = signer
        self._poster = poster_variant
        self._pushing = pushing
        self._warned = threading.Event()

    def __call__(self, req: falcon.Request) -> RouteImageLinks:
        base = self._public_url or f"{req.scheme}://{req.netloc}"
        if not self._public_url and not self._warned.is_set():
            self._warned.set()
            if self._pushing:
                log.info("image URLs handed to Plex use %s; Plex 1.43.5+ refuses images on LAN addresses, "
                         "so artwork reaches Plex by upload ([artwork] push)", base)
            else:
                log.warning("image URLs handed to Plex use %s (the address Plex called); Plex 1.43.5+ refuses "
                            "images on LAN, localhost or .local addresses. Fix: publish /images/ on a public "
                            "https hostname and set [provider] public_url, or upload artwork into Plex with "
                            "[artwork] push = true (docs/artwork.md)", base)
        return RouteImageLinks(base, self._signer, self._poster, covers=self._covers, square=self._square)
