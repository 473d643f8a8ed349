"""Typed views of what Stash returns for s2p's documents.

Fields Stash may leave null are optional; unknown fields are ignored so a
newer Stash that returns more does not break parsing.
"""

from __future__ import annotations

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


class SceneSummary(_Model):
    """What matching needs: identity, title, date and files."""

    id: str
    title: str | None = None
    date: str | None = None
    updated_at: str | None = None
    files: tuple[VideoFile, ...] = ()

    @property
    def primary_file(self) -> VideoFile | None:
        return self.files[0] if self.files else None


class StudioRef(_Model):
    id: str
    name: str
    image_path: str | None = None
    parent_studio: "StudioRef | None" = None


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
