"""A scene library shaped like Stash's GraphQL answers, with Stash's query
semantics for the fields s2p uses.

It backs ``s2p demo`` (a small built-in sample), the tests' fake Stash and
the benchmarks (``generate`` makes libraries of any size with hard paths).
"""

from __future__ import annotations

import bisect
import hashlib
import random
import re
import struct
import threading
import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any


class NotFound(Exception):
    """Raised where Stash fails a query for an unknown id."""


def _fingerprints(path: str) -> tuple[str, str]:
    digest = hashlib.sha256(path.encode()).hexdigest()
    return digest[:16], digest[16:48]


class Library:
    def __init__(self) -> None:
        self.scenes: dict[str, dict[str, Any]] = {}
        self.performers: dict[str, dict[str, Any]] = {}
        self.studios: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        # Stash builds image URLs from the Host a request came in on; the
        # stand-in server sets this once it knows its address.
        self.base_url = "http://stash.invalid"
        self.version = "v0.30.1"
        self.library_folders: list[str] = []  # Settings > Library, as configuration { general { stashes } }
        self.lock = threading.RLock()
        self._sorted_ids: list[str] | None = None

    # ------------------------------------------------------------ building

    def add_studio(self, studio_id: str, name: str, *, parent: str | None = None, image: bool = True,
                   details: str | None = None, aliases: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> None:
        self.studios[studio_id] = {"id": studio_id, "name": name, "parent": parent, "image": image,
                                   "details": details, "aliases": list(aliases), "tags": list(tags),
                                   "updated_at": "2024-01-01T12:00:00+00:00"}

    def add_performer(self, performer_id: str, name: str, *, image: bool = True, disambiguation: str | None = None,
                      gender: str | None = "FEMALE") -> None:
        self.performers[performer_id] = {"id": performer_id, "name": name, "image": image,
                                         "disambiguation": disambiguation, "gender": gender,
                                         "updated_at": "2024-01-01T12:00:00+00:00"}

    def add_tag(self, tag_id: str, name: str, *, image: bool = False) -> None:
        self.tags[tag_id] = {"id": tag_id, "name": name, "image": image, "updated_at": "2024-01-01T12:00:00+00:00"}

    def add_group(self, group_id: str, name: str, *, image: bool = True) -> None:
        self.groups[group_id] = {"id": group_id, "name": name, "image": image,
                                 "updated_at": "2024-01-01T12:00:00+00:00"}

    def add_scene(
        self,
        scene_id: str,
        *,
        title: str | None,
        files: Iterable[str | dict[str, Any]],
        date: str | None = None,
        details: str | None = None,
        code: str | None = None,
        director: str | None = None,
        studio: str | None = None,
        performers: Iterable[str] = (),
        tags: Iterable[str] = (),
        groups: Iterable[str] = (),
        stash_ids: Iterable[tuple[str, str]] = (),
        updated_at: str = "2024-01-01T12:00:00+00:00",
        duration: float = 1800.0,
        cover: bool = True,
    ) -> None:
        file_records = []
        for index, item in enumerate(files):
            record: dict[str, Any] = {"path": item} if isinstance(item, str) else dict(item)
            path = record["path"]
            oshash, md5 = _fingerprints(path)
            record.setdefault("oshash", oshash)
            record.setdefault("md5", md5)
            record.setdefault("size", 100_000_000 + len(path) * 1000 + index)
            record.setdefault("duration", duration)
            file_records.append(record)
        with self.lock:
            self.scenes[scene_id] = {
                "id": scene_id, "title": title, "date": date, "details": details, "code": code,
                "director": director, "studio": studio, "performers": list(performers), "tags": list(tags),
                "groups": list(groups), "stash_ids": list(stash_ids), "updated_at": updated_at,
                "files": file_records, "cover": cover,
            }
            self._sorted_ids = None

    def update_scene(self, scene_id: str, **changes: Any) -> None:
        with self.lock:
            self.scenes[scene_id].update(changes)
            self._sorted_ids = None

    def update_entity(self, kind: str, entity_id: str, **changes: Any) -> None:
        """Edit a performer, studio, tag or group (``kind`` as in ENTITY_KINDS)."""
        with self.lock:
            getattr(self, ENTITY_KINDS[kind])[entity_id].update(changes)

    def remove_scene(self, scene_id: str) -> None:
        with self.lock:
            self.scenes.pop(scene_id, None)
            self._sorted_ids = None

    # ------------------------------------------------------------ output shapes

    def _image_path(self, kind: str, entity_id: str, has_image: bool, route: str = "image") -> str:
        # Like Stash, the URL carries the image's version: a new image is a new URL.
        version = self._records(kind).get(entity_id, {}).get("image_version", 1700000000)
        path = f"{self.base_url}/{kind}/{entity_id}/{route}?t={version}"
        return path if has_image else path + "&default=true"

    def _studio(self, studio_id: str | None, depth: int = 0) -> dict[str, Any] | None:
        record = self.studios.get(studio_id or "")
        if record is None:
            return None
        return {
            "id": record["id"], "name": record["name"], "urls": [], "aliases": [],
            "image_path": self._image_path("studio", record["id"], record["image"]),
            "parent_studio": self._studio(record["parent"], depth + 1) if depth < 5 else None,
        }

    def _performer(self, performer_id: str) -> dict[str, Any]:
        record = self.performers[performer_id]
        return {
            "id": record["id"], "name": record["name"], "disambiguation": record["disambiguation"],
            "gender": record["gender"], "alias_list": [],
            "image_path": self._image_path("performer", record["id"], record["image"]),
        }

    def _tag(self, tag_id: str) -> dict[str, Any]:
        record = self.tags[tag_id]
        return {"id": record["id"], "name": record["name"], "aliases": [],
                "image_path": self._image_path("tag", record["id"], record.get("image", False))}

    def _group(self, group_id: str) -> dict[str, Any]:
        record = self.groups[group_id]
        return {"id": record["id"], "name": record["name"],
                "front_image_path": self._image_path("group", record["id"], record["image"], "frontimage"),
                "back_image_path": self._image_path("group", record["id"], False, "backimage")}

    def _scene(self, record: dict[str, Any]) -> dict[str, Any]:
        stamp = _unix(record["updated_at"])
        return {
            "id": record["id"],
            "title": record["title"],
            "code": record["code"],
            "details": record["details"],
            "director": record["director"],
            "date": record["date"],
            "urls": [],
            "rating100": None,
            "organized": True,
            "created_at": "2023-01-01T00:00:00+00:00",
            "updated_at": record["updated_at"],
            "files": [
                {
                    "path": f["path"],
                    "basename": re.split(r"[/\\]", f["path"])[-1],
                    "size": f["size"],
                    "duration": f["duration"],
                    "width": 1920,
                    "height": 1080,
                    "fingerprints": [{"type": "oshash", "value": f["oshash"]}, {"type": "md5", "value": f["md5"]}],
                }
                for f in record["files"]
            ],
            "paths": {"screenshot": f"{self.base_url}/scene/{record['id']}/screenshot?t={stamp}"},
            "studio": self._studio(record["studio"]),
            "performers": [self._performer(p) for p in record["performers"] if p in self.performers],
            "tags": [self._tag(t) for t in record["tags"] if t in self.tags],
            "groups": [{"scene_index": i + 1, "group": self._group(g)}
                       for i, g in enumerate(record["groups"]) if g in self.groups],
            "stash_ids": [{"endpoint": e, "stash_id": s, "updated_at": record["updated_at"]}
                          for e, s in record["stash_ids"]],
        }

    # ------------------------------------------------------------ GraphQL root fields

    def find_scene(self, id: str | None = None, checksum: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            if id is not None:
                record = self.scenes.get(str(id))
                return self._scene(record) if record else None
            if checksum:
                return self.find_scene_by_hash({"checksum": checksum})
            return None

    def find_scene_by_hash(self, input: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            for kind, key in (("checksum", "md5"), ("oshash", "oshash")):
                value = input.get(kind)
                if not value:
                    continue
                for scene_id in self._ordered_ids():
                    record = self.scenes[scene_id]
                    if any(f[key] == value for f in record["files"]):
                        return self._scene(record)
            return None

    def find_scenes(self, ids: list[str] | None = None, scene_filter: dict[str, Any] | None = None,
                    filter: dict[str, Any] | None = None, scene_ids: list[int] | None = None) -> dict[str, Any]:
        with self.lock:
            wanted = [str(i) for i in (ids or scene_ids or [])]
            if wanted:
                # Like Stash: one missing id fails the whole query.
                for scene_id in wanted:
                    if scene_id not in self.scenes:
                        raise NotFound(f"scene with id {scene_id} not found")
                scenes = [self.scenes[i] for i in wanted]
                return self._result(scenes)
            find = filter or {}
            after = self._ids_after(scene_filter, find)
            per_page = find.get("per_page")
            per_page = 25 if per_page is None else per_page
            page = max(1, find.get("page") or 1)
            if (after is not self._ordered_ids() and per_page >= 0 and not find.get("q")
                    and [k for k, v in (scene_filter or {}).items() if v is not None] == ["id"]):
                # Keyset paging with nothing else to filter: every id after N
                # qualifies, so only the page's scenes are built.
                window = after[(page - 1) * per_page: page * per_page]
                return self._result([self.scenes[i] for i in window], len(after))
            records = [self.scenes[i] for i in after]
            if scene_filter:
                records = [r for r in records if _scene_matches(r, scene_filter)]
            if find.get("q"):
                records = [r for r in records if _q_matches(r, find["q"])]
            records = _sorted(records, find.get("sort"), find.get("direction") or "ASC")
            count = len(records)
            if per_page >= 0:
                records = records[(page - 1) * per_page: page * per_page]
            return self._result(records, count)

    def _result(self, records: list[dict[str, Any]], count: int | None = None) -> dict[str, Any]:
        scenes = [self._scene(r) for r in records]
        return {"count": len(scenes) if count is None else count, "duration": 0.0, "filesize": 0.0,
                "scenes": scenes}

    def _ids_after(self, scene_filter: dict[str, Any] | None, find: dict[str, Any]) -> list[str]:
        """Ids in order; for keyset paging (id > N, by id) only those after N,
        so paging through a large generated library is not quadratic."""
        ids = self._ordered_ids()
        after = (scene_filter or {}).get("id") or {}
        if after.get("modifier") != "GREATER_THAN" or find.get("sort") != "id" or find.get("direction") == "DESC":
            return ids
        value = int(after["value"])
        return ids[bisect.bisect_right(ids, (len(str(value)), str(value)), key=lambda i: (len(i), i)):]

    def _ordered_ids(self) -> list[str]:
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.scenes, key=lambda i: (len(i), i))
        return self._sorted_ids

    def _find_entities(self, kind: str, entity_filter: dict[str, Any] | None) -> dict[str, Any]:
        with self.lock:
            records = list(getattr(self, ENTITY_KINDS[kind]).values())
        criterion = (entity_filter or {}).get("updated_at")
        if criterion:
            records = [r for r in records if _stamp_matches(r["updated_at"], criterion)]
        found = [{"id": r["id"], "updated_at": r["updated_at"]} for r in records]
        return {"count": len(found), ENTITY_KINDS[kind]: found}

    def find_performers(self, performer_filter: dict[str, Any] | None = None,
                        filter: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._find_entities("performer", performer_filter)

    def find_studios(self, studio_filter: dict[str, Any] | None = None,
                     filter: dict[str, Any] | None = None) -> dict[str, Any]:
        found = self._find_entities("studio", studio_filter)
        with self.lock:  # the whole record: the TV provider's shows are built from it
            found["studios"] = [self._studio_record(s["id"]) for s in found["studios"]]
        return found

    def _studio_record(self, studio_id: str) -> dict[str, Any]:
        record = self.studios[studio_id]
        return {**(self._studio(studio_id, depth=5) or {}), "details": record.get("details"),
                "aliases": list(record.get("aliases") or []), "updated_at": record["updated_at"],
                "parent_studio": {"id": record["parent"]} if record["parent"] in self.studios else None,
                "tags": [self._tag(t) for t in record.get("tags") or [] if t in self.tags]}

    def find_tags(self, tag_filter: dict[str, Any] | None = None,
                  filter: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._find_entities("tag", tag_filter)

    def find_groups(self, group_filter: dict[str, Any] | None = None,
                    filter: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._find_entities("group", group_filter)

    def find_performer(self, id: str) -> dict[str, Any] | None:
        return self._performer(str(id)) if str(id) in self.performers else None

    def find_studio(self, id: str) -> dict[str, Any] | None:
        return self._studio(str(id))

    def find_tag(self, id: str) -> dict[str, Any] | None:
        return self._tag(str(id)) if str(id) in self.tags else None

    def find_group(self, id: str) -> dict[str, Any] | None:
        return self._group(str(id)) if str(id) in self.groups else None

    def version_info(self) -> dict[str, Any]:
        return {"version": self.version, "hash": "0000000", "build_time": "2025-12-18 00:00:00"}

    def configuration(self) -> dict[str, Any]:
        return {"general": {"stashes": [{"path": root, "excludeVideo": False, "excludeImage": False}
                                        for root in self.library_folders]}}

    def system_status(self) -> dict[str, Any]:
        return {"status": "OK", "appSchema": 75, "databaseSchema": 75, "os": "linux",
                "workingDir": "/", "homeDir": "/"}

    # ------------------------------------------------------------ images

    def image(self, kind: str, entity_id: str) -> bytes | None:
        """The bytes Stash serves for an entity's image.  Like Stash, an
        entity without an image still gets a picture: a scene without a
        cover, and a studio, tag or group without an image, get Stash's
        default SVG; a performer without one a stock photo."""
        known = self._records(kind)
        if entity_id not in known:
            return None
        if self.content_type(kind, entity_id) == "image/svg+xml":
            return DEFAULT_SVG
        width, height = (320, 180) if kind == "scene" else (200, 300) if kind == "performer" else (240, 120)
        version = known[entity_id].get("image_version")  # set by a test that changes the picture
        seed = int(hashlib.md5(f"{kind}/{entity_id}{'' if version is None else f'/{version}'}".encode())
                   .hexdigest()[:6], 16)
        return _png(width, height, seed)

    def _records(self, kind: str) -> dict[str, dict[str, Any]]:
        return {"scene": self.scenes, "performer": self.performers, "studio": self.studios,
                "tag": self.tags, "group": self.groups}.get(kind, {})

    def content_type(self, kind: str, entity_id: str) -> str:
        record = self._records(kind).get(entity_id) or {}
        has_image = record.get("cover", True) if kind == "scene" else record.get("image", False)
        return "image/svg+xml" if not has_image and kind != "performer" else "image/png"


# What Stash serves for a scene without a cover (its scene/scene.svg, in spirit).
DEFAULT_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 9">'
               b'<rect width="16" height="9" fill="#333"/></svg>')


ROOT_FIELDS = {
    "findScene": "find_scene",
    "findScenes": "find_scenes",
    "findSceneByHash": "find_scene_by_hash",
    "findPerformer": "find_performer",
    "findPerformers": "find_performers",
    "findStudios": "find_studios",
    "findTags": "find_tags",
    "findGroups": "find_groups",
    "findStudio": "find_studio",
    "findTag": "find_tag",
    "findGroup": "find_group",
    "version": "version_info",
    "systemStatus": "system_status",
    "configuration": "configuration",
}


ENTITY_KINDS = {"performer": "performers", "studio": "studios", "tag": "tags", "group": "groups"}

# ------------------------------------------------------------ filter semantics


def _stamp_matches(stamp: str, criterion: dict[str, Any]) -> bool:
    # Stash compares the stored RFC3339 text as a string.
    value, modifier = criterion["value"], criterion["modifier"]
    if modifier == "GREATER_THAN":
        return stamp > value
    if modifier == "LESS_THAN":
        return stamp < value
    raise ValueError(f"the stand-in does not support updated_at {modifier}")


def _string_matches(value: str | None, criterion: dict[str, Any]) -> bool:
    modifier = criterion.get("modifier")
    target = criterion.get("value") or ""
    if modifier == "IS_NULL":
        return not value
    if modifier == "NOT_NULL":
        return bool(value)
    value = value or ""
    if modifier in ("EQUALS", "NOT_EQUALS"):
        # SQLite LIKE without wildcards: ASCII case-insensitive equality.
        result = value.lower() == target.lower()
        return result if modifier == "EQUALS" else not result
    if modifier in ("INCLUDES", "EXCLUDES"):
        if len(target) > 1 and target.startswith('"') and target.endswith('"'):
            words = [target[1:-1]]
        else:
            words = target.split()
        result = any(w.lower() in value.lower() for w in words)
        return result if modifier == "INCLUDES" else not result
    if modifier in ("MATCHES_REGEX", "NOT_MATCHES_REGEX"):
        result = re.search(target, value) is not None
        return result if modifier == "MATCHES_REGEX" else not result
    raise ValueError(f"unsupported string modifier {modifier}")


def _scene_matches(record: dict[str, Any], scene_filter: dict[str, Any]) -> bool:
    for key, criterion in scene_filter.items():
        if criterion is None:
            continue
        if key == "AND":
            if not _scene_matches(record, criterion):
                return False
        elif key == "OR":
            continue  # handled below
        elif key == "NOT":
            if _scene_matches(record, criterion):
                return False
        elif key == "path":
            if not any(_string_matches(f["path"], criterion) for f in record["files"]):
                return False
        elif key in ("title", "details", "code", "director"):
            if not _string_matches(record.get(key), criterion):
                return False
        elif key in ("oshash", "checksum"):
            field = "oshash" if key == "oshash" else "md5"
            if not any(_string_matches(f[field], criterion) for f in record["files"]):
                return False
        elif key == "updated_at":
            # Stash compares the stored RFC3339 text as a string.
            value, modifier = criterion["value"], criterion["modifier"]
            if modifier == "GREATER_THAN" and not record["updated_at"] > value:
                return False
            if modifier == "LESS_THAN" and not record["updated_at"] < value:
                return False
        elif key == "studios" and criterion["modifier"] == "IS_NULL":
            if record["studio"] in (None, ""):
                continue
            return False
        elif key in ("performers", "studios", "tags", "groups"):
            if criterion["modifier"] != "INCLUDES" or criterion.get("depth") not in (None, 0):
                raise ValueError(f"the stand-in does not support {key} {criterion['modifier']}")
            mine = {record["studio"]} if key == "studios" else set(record[key])
            if not mine & {str(v) for v in criterion.get("value") or []}:
                return False
        elif key == "id":
            value, modifier = int(criterion["value"]), criterion["modifier"]
            scene_id = int(record["id"])
            if (modifier == "EQUALS" and scene_id != value) or (modifier == "GREATER_THAN" and scene_id <= value):
                return False
        else:
            raise ValueError(f"the stand-in does not support scene_filter.{key}")
    if scene_filter.get("OR") is not None:
        base = {k: v for k, v in scene_filter.items() if k != "OR"}
        return _scene_matches(record, base) or _scene_matches(record, scene_filter["OR"])
    return True


def _q_matches(record: dict[str, Any], q: str) -> bool:
    haystack = " ".join(
        [record.get("title") or "", record.get("details") or "", record.get("code") or ""]
        + [f["path"] for f in record["files"]]
    ).lower()
    return all(word.lower() in haystack for word in q.split())


def _sorted(records: list[dict[str, Any]], sort: str | None, direction: str) -> list[dict[str, Any]]:
    keys = {
        "id": lambda r: int(r["id"]) if r["id"].isdigit() else 0,
        "title": lambda r: (r.get("title") or "").lower(),
        "date": lambda r: r.get("date") or "",
        "updated_at": lambda r: r["updated_at"],
        "path": lambda r: r["files"][0]["path"] if r["files"] else "",
    }
    if not sort:
        return records
    if sort == "random" or sort.startswith("random_"):  # Stash's random order; here a fixed shuffle
        shuffled = list(records)
        random.Random(sort).shuffle(shuffled)
        return shuffled
    if sort not in keys:
        raise ValueError(f"invalid sort: {sort}")
    return sorted(records, key=keys[sort], reverse=direction == "DESC")


def _unix(stamp: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


# ------------------------------------------------------------ images


# Each is about 1 KB; a benchmark's Stash serves a few thousand of them.
@lru_cache(maxsize=4096)
def _png(width: int, height: int, seed: int) -> bytes:
    """A small PNG: a coloured field with a diagonal band (no Pillow needed)."""
    r, g, b = (seed >> 16) & 255, (seed >> 8) & 255, seed & 255
    light = bytes((min(255, r + 80), min(255, g + 80), min(255, b + 80)))
    base = bytes((r, g, b))
    rows = []
    for y in range(height):
        band_start = (y * width) // height
        band_end = min(width, band_start + width // 8)
        # Whole runs of pixels at once: a benchmark's Stash serves thousands of these.
        rows.append(b"\x00" + base * band_start + light * (band_end - band_start) + base * (width - band_end))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# ------------------------------------------------------------ content


def sample(root: str = "/stash/library") -> Library:
    """The built-in sample library of ``s2p demo``: few scenes, every hard case."""
    lib = Library()
    lib.library_folders = [root]
    lib.add_studio("1", "Harbour Films", image=True)
    lib.add_studio("2", "Harbour Films Originals", parent="1", image=True)
    lib.add_studio("3", "Studio Ümlaut", image=False)
    lib.add_performer("1", "Jane Doe")
    lib.add_performer("2", "Zoë Martín", disambiguation="2019")
    lib.add_performer("3", "Ana O'Neil", image=False)
    for tag_id, name in enumerate(["Outdoor", "Office", "Blonde", "Interview", "Behind the Scenes"], start=1):
        lib.add_tag(str(tag_id), name, image=name == "Outdoor")
    lib.add_group("1", "Harbour Nights", image=True)
    lib.add_scene("1", title="Office Affair", date="2023-05-12", studio="2", performers=["1", "2"],
                  tags=["2", "3"], groups=["1"], details="Two colleagues stay late.",
                  stash_ids=[("https://stashdb.org/graphql", "6f1c8c1e-0000-4000-8000-000000000001")],
                  files=[f"{root}/Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4"])
    lib.add_scene("2", title="Don't Stop [Director's Cut]", date="2022", studio="1", performers=["3"],
                  tags=["1"], files=[f"{root}/Harbour Films/Don't Stop [Director's Cut] (2022).mkv"])
    lib.add_scene("3", title="Café Crème", date="2021-07", studio="3", performers=["2"],
                  files=[f"{root}/Studio Ümlaut/Café Crème.mp4"])
    lib.add_scene("4", title=None, date=None, files=[f"{root}/Unsorted/clip_0457.mp4"])
    # Same file name in two folders: only the folder tells them apart.
    lib.add_scene("5", title="Beach Day (Harbour)", date="2020-08-01", studio="1", cover=False,
                  files=[f"{root}/Harbour Films/extras/scene.mp4"])
    lib.add_scene("6", title="Beach Day (Ümlaut)", date="2020-08-02", studio="3",
                  files=[f"{root}/Studio Ümlaut/extras/scene.mp4"])
    # One scene, two files (a 1080p and a 4K copy).
    lib.add_scene("7", title="Harbour Nights Part 1", date="2024-02-14", studio="1", groups=["1"],
                  performers=["1"], tags=["4", "5"], director="A. Director",
                  files=[f"{root}/Harbour Films/Harbour Nights/Part 1 [1080p].mp4",
                         f"{root}/Harbour Films/Harbour Nights/Part 1 [2160p].mp4"])
    lib.add_scene("8", title="日本の夏", date="2019-08-15", files=[f"{root}/国際/日本の夏.mp4"])
    return lib


_WORDS = ("sunset velvet harbour office morning coffee rooftop garden neon rain midnight lagoon winter "
          "summer library atelier balcony cabin secret pool dance studio mirror window city road").split()
_ODD = ["Don't Stop", "Café Crème", "Zoë's Day", "[Remastered]", "Part 2 (Uncut)", "日本の夏", "O'Neil & Co",
        "Ça va", "Señorita", "100% Real", "#1 Fan", "A+B", "Über-Schön", "déjà vu"]


def generate(count: int, *, seed: int = 7, root: str = "/stash/library") -> Library:
    """A library of ``count`` scenes with realistic hard paths: spaces,
    Unicode, apostrophes, brackets, duplicate file names in different
    folders, scenes with two files, scenes without titles."""
    rng = random.Random(seed)
    lib = Library()
    studio_count = max(5, min(200, count // 50))
    for i in range(1, studio_count + 1):
        parent = str(rng.randint(1, i - 1)) if i > 3 and rng.random() < 0.3 else None
        name = f"{rng.choice(_WORDS).title()} {rng.choice(['Films', 'Studio', 'Media', 'Pictures'])} {i}"
        lib.add_studio(str(i), name, parent=parent, image=rng.random() < 0.7)
    for i in range(1, max(10, count // 10) + 1):
        lib.add_performer(str(i), f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()} {i}",
                          image=rng.random() < 0.8)
    for i in range(1, 61):
        lib.add_tag(str(i), f"{rng.choice(_WORDS).title()} {i}")
    for i in range(1, max(2, count // 100) + 1):
        lib.add_group(str(i), f"Series {i}")
    for i in range(1, count + 1):
        studio = str(rng.randint(1, studio_count))
        studio_name = lib.studios[studio]["name"]
        words = " ".join(rng.choice(_WORDS).title() for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.15:
            words = f"{words} {rng.choice(_ODD)}"
        title = f"{words} {i}"
        year = rng.randint(2005, 2025)
        date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        roll = rng.random()
        if roll < 0.05:
            # A deliberately shared file name: only the folder tells them apart.
            name = f"scene {i % 20}.mp4"
            files = [f"{root}/{studio_name}/set {i}/{name}"]
        elif roll < 0.08:
            files = [f"{root}/{studio_name}/{title}/{title} [1080p].mp4",
                     f"{root}/{studio_name}/{title}/{title} [2160p].mkv"]
        else:
            files = [f"{root}/{studio_name}/{date} - {title}.{rng.choice(['mp4', 'mkv', 'wmv'])}"]
        lib.add_scene(
            str(i),
            title=None if rng.random() < 0.03 else title,
            date=date if rng.random() < 0.9 else (str(year) if rng.random() < 0.5 else None),
            studio=studio,
            performers=[str(rng.randint(1, len(lib.performers))) for _ in range(rng.randint(0, 3))],
            tags=[str(rng.randint(1, 60)) for _ in range(rng.randint(0, 6))],
            groups=[str(rng.randint(1, len(lib.groups)))] if rng.random() < 0.1 else [],
            files=files,
            updated_at=f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00+00:00",
            details=f"Generated scene {i}.",
        )
    return lib
