"""Typed views of what Stash returns for s2p's documents.

Fields Stash may leave null are optional; unknown fields are ignored so a
newer Stash that returns more does not break parsing.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Fingerprint(_Model):
    type: str
    value: str


class VideoFile(_Model):
    path: str
    basename: str = ""
    size: int = 0
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fingerprints: tuple[Fingerprint, ...] = ()

    def fingerprint(self, kind: str) -> str | None:
        for fp in self.fingerprints:
            if fp.type == kind:
                return fp.value
        return None


class StudioParent(_Model):
    id: str


class SceneSummary(_Model):
    """What matching needs: identity, title, date, files, and the studio's
    id (which TV show a scene is an episode of)."""

    id: str
    title: str | None = None
    date: str | None = None
    updated_at: str | None = None
    files: tuple[VideoFile, ...] = ()
    studio: StudioParent | None = None

    @property
    def primary_file(self) -> VideoFile | None:
        return self.files[0] if self.files else None


class StudioRef(StudioParent):
    name: str
    image_path: str | None = None
    parent_studio: StudioRef | None = None


class Studio(_Model):
    """A studio as the TV provider's shows are built from it."""

    id: str
    name: str
    details: str | None = None
    image_path: str | None = None
    aliases: tuple[str, ...] = ()
    parent_studio: StudioParent | None = None
    tags: tuple[TagRef, ...] = ()
    updated_at: str | None = None

    def ref(self) -> StudioRef:
        return StudioRef(id=self.id, name=self.name, image_path=self.image_path)


class PerformerRef(_Model):
    id: str
    name: str
    disambiguation: str | None = None
    gender: str | None = None
    image_path: str | None = None


class TagRef(_Model):
    id: str
    name: str
    image_path: str | None = None


class GroupRef(_Model):
    id: str
    name: str
    front_image_path: str | None = None
    back_image_path: str | None = None


class SceneGroup(_Model):
    group: GroupRef
    scene_index: int | None = None


class StashId(_Model):
    endpoint: str
    stash_id: str


class ScenePaths(_Model):
    screenshot: str | None = None


class Scene(SceneSummary):
    """A scene with everything the Plex Metadata object is built from."""

    code: str | None = None
    details: str | None = None
    director: str | None = None
    urls: tuple[str, ...] = ()
    rating100: int | None = None
    organized: bool = False
    created_at: str | None = None
    paths: ScenePaths = Field(default_factory=ScenePaths)
    studio: StudioRef | None = None
    performers: tuple[PerformerRef, ...] = ()
    tags: tuple[TagRef, ...] = ()
    groups: tuple[SceneGroup, ...] = ()
    stash_ids: tuple[StashId, ...] = ()


# A scene as a TV show lists it: its summary (the studio's id included).
Listed = SceneSummary


class StashVersion(_Model):
    version: str | None = None
    status: str | None = None


def is_placeholder(image_path: str | None) -> bool:
    """Stash marks its stand-in images (no real image set) with default=true."""
    if not image_path:
        return True
    query = parse_qs(urlsplit(image_path).query)
    return query.get("default", [""])[0].lower() == "true"


def image_version(image_path: str | None) -> str | None:
    """Stash's cache-buster (``?t=<unix time>``): changes when the image does."""
    if not image_path:
        return None
    values = parse_qs(urlsplit(image_path).query).get("t")
    return values[0] if values else None


# How a scene is named and dated wherever s2p shows or compares it (the
# match cascade and the Plex translation alike).

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def release(date: str | None, partial_dates: str = "first_day") -> tuple[str | None, int | None]:
    """``(originallyAvailableAt, year)`` from a Stash date.

    Since Stash 0.30 a date may be ``YYYY`` or ``YYYY-MM``.  Plex wants a full
    ``YYYY-MM-DD``: with ``first_day`` the missing parts become 01 (so sorting
    by date keeps working), with ``year_only`` only the year is sent.
    """
    if not date:
        return None, None
    m = _DATE.match(date.strip())
    if not m:
        return None, None
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    day = int(m.group(3)) if m.group(3) else None
    try:
        full = dt.date(year, month or 1, day or 1)
    except ValueError:
        return None, None
    if year < 1:
        return None, None
    if day is None and partial_dates == "year_only":
        return None, year
    return full.isoformat(), year


def file_stem(path: str) -> str:
    name = re.split(r"[/\\]", path)[-1]
    stem, ext = posixpath.splitext(name)
    return stem if stem and len(ext) <= 5 else name


def title_of(scene: SceneSummary) -> str:
    """Stash's title, else the primary file's name without extension."""
    if scene.title and scene.title.strip():
        return scene.title.strip()
    primary = scene.primary_file
    if primary is not None:
        stem = file_stem(primary.basename or primary.path)
        if stem:
            return stem
    return f"Scene {scene.id}"
