"""Stash operations in s2p's terms, on top of the GraphQL client."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from s2p.common.deadline import Deadline
from s2p.stash import queries
from s2p.stash.client import StashClient
from s2p.stash.errors import StashQueryError, StashUnavailable
from s2p.stash.models import (GroupRef, Listed, PerformerRef, Scene, SceneSummary, StashVersion, Studio, StudioRef,
                              TagRef)
from s2p.stash.refpool import RefPool

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)

_NOT_FOUND = re.compile(r"scene with id (\d+) not found")
# Characters that are special in Go's RE2 syntax (what Stash's MATCHES_REGEX uses).
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def re2_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


class StashAPI:
    """Typed Stash operations; every method takes the caller's deadline."""

    def __init__(self, client: StashClient):
        self.client = client
        self.refs = RefPool()

    # ------------------------------------------------------------ scenes

    def scene(self, scene_id: str, *, deadline: Deadline | None = None) -> Scene | None:
        data = self.client.query(queries.FIND_SCENE, {"id": scene_id}, deadline=deadline)
        raw = data.get("findScene")
        return _parse(Scene, self.refs.scene(raw)) if raw else None

    def scenes(self, scene_ids: Sequence[str], *, deadline: Deadline | None = None) -> dict[str, Scene]:
        """Several scenes in one query; ids Stash does not know are left out.

        Stash fails the whole ``findScenes(ids:)`` query when one id is
        missing, so the missing id is dropped (or the batch split) and the
        rest asked again.
        """
        found: dict[str, Scene] = {}
        pending = [list(dict.fromkeys(scene_ids))]
        while pending:
            batch = pending.pop()
            if not batch:
                continue
            try:
                data = self.client.query(queries.FIND_SCENES, {"ids": batch}, deadline=deadline)
            except StashQueryError as exc:
                missing = {m.group(1) for msg in exc.messages for m in [_NOT_FOUND.search(msg)] if m}
                if missing & set(batch):
                    pending.append([i for i in batch if i not in missing])
                elif len(batch) > 1 and any("not found" in msg for msg in exc.messages):
                    half = len(batch) // 2
                    pending.extend([batch[:half], batch[half:]])
                elif len(batch) == 1 and any("not found" in msg for msg in exc.messages):
                    continue
                else:
                    raise
                continue
            for raw in (data.get("findScenes") or {}).get("scenes") or []:
                scene = _parse(Scene, self.refs.scene(raw))
                if scene is not None:
                    found[scene.id] = scene
        return found

    def summaries(
        self,
        *,
        scene_filter: dict[str, Any] | None = None,
        q: str | None = None,
        page: int = 1,
        per_page: int = 100,
        sort: str = "id",
        direction: str = "ASC",
        deadline: Deadline | None = None,
        urgent: bool = True,
    ) -> list[SceneSummary]:
        find_filter: dict[str, Any] = {"page": page, "per_page": per_page, "sort": sort, "direction": direction}
        if q:
            find_filter["q"] = q
        variables: dict[str, Any] = {"filter": find_filter}
        if scene_filter:
            variables["scene_filter"] = scene_filter
        data = self.client.query(queries.SCENE_SUMMARIES, variables, deadline=deadline, urgent=urgent)
        raws = (data.get("findScenes") or {}).get("scenes") or []
        return [s for s in (_parse(SceneSummary, raw) for raw in raws) if s is not None]

    def summary_page(
        self,
        *,
        after_id: str | None = None,
        per_page: int,
        updated_after: str | None = None,
        deadline: Deadline | None = None,
    ) -> "SummaryPage":
        """One page of scenes by id, starting after ``after_id``.

        Paging by id (keyset) rather than by page number: a scene deleted
        while the pages are read cannot shift the window and hide another.
        """
        scene_filter: dict[str, Any] = {}
        if after_id is not None:
            scene_filter["id"] = {"value": int(after_id), "modifier": "GREATER_THAN"}
        if updated_after:
            scene_filter["updated_at"] = {"value": updated_after, "modifier": "GREATER_THAN"}
        variables: dict[str, Any] = {"filter": {"page": 1, "per_page": per_page, "sort": "id", "direction": "ASC"}}
        if scene_filter:
            variables["scene_filter"] = scene_filter
        data = self.client.query(queries.SCENE_SUMMARIES, variables, deadline=deadline)
        raws = (data.get("findScenes") or {}).get("scenes") or []
        last = next((str(raw["id"]) for raw in reversed(raws) if isinstance(raw, dict) and raw.get("id")), None)
        scenes = [s for s in (_parse(SceneSummary, raw) for raw in raws) if s is not None]
        return SummaryPage(scenes, complete=len(raws) < per_page or last is None, last_id=last)

    def iter_summaries(
        self, *, per_page: int, updated_after: str | None = None, deadline_per_page: float | None = None
    ) -> Iterator[list[SceneSummary]]:
        """All scenes (or those updated after a time), page by page, by id."""
        after = None
        while True:
            deadline = Deadline(deadline_per_page) if deadline_per_page else None
            page = self.summary_page(after_id=after, per_page=per_page, updated_after=updated_after,
                                     deadline=deadline)
            yield page.scenes
            if page.complete:
                return
            after = page.last_id

    def library_folders(self, *, deadline: Deadline | None = None) -> list[str]:
        """The folders Stash scans for videos (Settings > Library)."""
        data = self.client.query(queries.LIBRARY_FOLDERS, {}, deadline=deadline)
        stashes = (((data.get("configuration") or {}).get("general") or {}).get("stashes")) or []
        return [s["path"] for s in stashes if isinstance(s, dict) and s.get("path") and not s.get("excludeVideo")]

    def sample_files(self, count: int, *, deadline: Deadline | None = None) -> list[str]:
        """File paths of ``count`` scenes picked at random across the library."""
        data = self.client.query(queries.SCENE_SUMMARIES, {"filter": {"per_page": count, "sort": "random"}},
                                 deadline=deadline)
        raws = (data.get("findScenes") or {}).get("scenes") or []
        scenes = [s for s in (_parse(SceneSummary, raw) for raw in raws) if s is not None]
        return [f.path for s in scenes for f in s.files]

    # ------------------------------------------------------------ changes (live sync)

    _CHANGED = {"performer": (queries.CHANGED_PERFORMERS, "findPerformers", "performers"),
                "studio": (queries.CHANGED_STUDIOS, "findStudios", "studios"),
                "tag": (queries.CHANGED_TAGS, "findTags", "tags"),
                "group": (queries.CHANGED_GROUPS, "findGroups", "groups")}

    def changed(self, kind: str, since: str, *, deadline: Deadline | None = None) -> list[tuple[str, str]]:
        """``(id, updated_at)`` of the performers, studios, tags or groups
        (``kind``) updated after ``since`` (Stash's own text)."""
        document, field, plural = self._CHANGED[kind]
        data = self.client.query(document, {f"{kind}_filter": {"updated_at": {"value": since,
                                                                              "modifier": "GREATER_THAN"}},
                                            "filter": {"per_page": -1}}, deadline=deadline)
        rows = (data.get(field) or {}).get(plural) or []
        return [(str(r["id"]), str(r.get("updated_at") or "")) for r in rows if isinstance(r, dict) and r.get("id")]

    def scene_stamps(self, scene_filter: dict[str, Any], *, deadline: Deadline | None = None) -> list[tuple[str, str]]:
        """``(id, updated_at)`` of every scene the filter selects."""
        data = self.client.query(queries.SCENE_IDS, {"filter": {"per_page": -1}, "scene_filter": scene_filter},
                                 deadline=deadline)
        rows = (data.get("findScenes") or {}).get("scenes") or []
        return [(str(r["id"]), str(r.get("updated_at") or "")) for r in rows if isinstance(r, dict) and r.get("id")]

    def scene_count(self, *, deadline: Deadline | None = None) -> int:
        data = self.client.query(queries.SCENE_COUNT, {"filter": {"per_page": 0}}, deadline=deadline)
        return int((data.get("findScenes") or {}).get("count") or 0)

    def with_basename(self, basename: str, *, limit: int = 200, deadline: Deadline | None = None) -> list[SceneSummary]:
        """Scenes with a file of this basename (Stash compares case-insensitively)."""
        regex = "(?i)(^|[/\\\\])" + re2_escape(basename) + "$"
        return self.summaries(
            scene_filter={"path": {"value": regex, "modifier": "MATCHES_REGEX"}}, per_page=limit, deadline=deadline
        )

    def search(self, text: str, *, limit: int = 40, deadline: Deadline | None = None) -> list[SceneSummary]:
        """Stash's free-text search (title, details, path...); it yields Stash
        slots to the lookups of other Plex requests, and waits [stash] slot_wait at most."""
        return self.summaries(q=text, per_page=limit, deadline=deadline, urgent=False)

    # ------------------------------------------------------------ the TV provider

    def studios(self, *, deadline: Deadline | None = None) -> list[Studio]:
        """Every studio (a few thousand at most, small records)."""
        data = self.client.query(queries.STUDIOS, {"filter": {"per_page": -1, "sort": "id", "direction": "ASC"}},
                                 deadline=deadline)
        raws = (data.get("findStudios") or {}).get("studios") or []
        return [s for s in (_parse(Studio, raw) for raw in raws) if s is not None]

    def studio_scenes(self, studio_ids: Sequence[str] | None, *, deadline: Deadline | None = None) -> list[Listed]:
        """The scenes of these studios (not of their sub-studios); ``None``:
        the scenes without a studio.  Ids, titles, dates and file names only."""
        if studio_ids is None:
            criterion: dict[str, Any] = {"modifier": "IS_NULL"}
        else:
            criterion = {"value": list(studio_ids), "modifier": "INCLUDES", "depth": 0}
        data = self.client.query(queries.SHOW_SCENES, {"filter": {"per_page": -1, "sort": "id", "direction": "ASC"},
                                                       "scene_filter": {"studios": criterion}}, deadline=deadline)
        raws = (data.get("findScenes") or {}).get("scenes") or []
        return [s for s in (_parse(Listed, raw) for raw in raws) if s is not None]

    # ------------------------------------------------------------ other entities

    def performer(self, performer_id: str, *, deadline: Deadline | None = None) -> PerformerRef | None:
        return self._entity(queries.PERFORMER_IMAGE, "findPerformer", PerformerRef, performer_id, deadline)

    def studio(self, studio_id: str, *, deadline: Deadline | None = None) -> StudioRef | None:
        return self._entity(queries.STUDIO_IMAGE, "findStudio", StudioRef, studio_id, deadline)

    def tag(self, tag_id: str, *, deadline: Deadline | None = None) -> TagRef | None:
        return self._entity(queries.TAG_IMAGE, "findTag", TagRef, tag_id, deadline)

    def group(self, group_id: str, *, deadline: Deadline | None = None) -> GroupRef | None:
        return self._entity(queries.GROUP_IMAGE, "findGroup", GroupRef, group_id, deadline)

    def _entity(self, document: queries.Document, field: str, model: type[Model], entity_id: str,
                deadline: Deadline | None) -> Model | None:
        data = self.client.query(document, {"id": entity_id}, deadline=deadline)
        raw = data.get(field)
        return _parse(model, raw) if raw else None

    # ------------------------------------------------------------ server

    def version(self, *, deadline: Deadline | None = None) -> StashVersion:
        data = self.client.query(queries.VERSION, deadline=deadline)
        return StashVersion(
            version=(data.get("version") or {}).get("version"),
            status=(data.get("systemStatus") or {}).get("status"),
        )


@dataclass(frozen=True)
class SummaryPage:
    scenes: list[SceneSummary]
    complete: bool  # the last page: fewer scenes than asked for
    last_id: str | None  # the highest id on the page (also of a scene that could not be read)


def _parse(model: type[Model], raw: Any) -> Model | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # One malformed record must not fail a whole page; say which one.
        ident = raw.get("id") if isinstance(raw, dict) else None
        log.warning("ignoring a %s from Stash that s2p cannot read (id %s): %s", model.__name__, ident,
                    exc.errors()[0]["msg"] if exc.errors() else exc)
        if model in (Scene, SceneSummary, Listed, Studio):
            return None
        raise StashUnavailable(f"Stash sent a {model.__name__} s2p cannot read") from None
