"""What the Stash plugin's bridge asks s2p, answered from s2p's own parts.

A scene's Plex status: the Plex items carrying its guid (found as live sync
finds them), when Plex last fetched its metadata from s2p and whether Stash
changed it since (the gap records' served times), its place in the
live-sync queue and its unresolved gap records; when Plex has no item for
it, why: no path rule, no library on s2p's agent holding its folder, or
what the match cascade makes of its file.
"""

from __future__ import annotations

import datetime
import logging
import posixpath
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from s2p.common.deadline import Deadline
from s2p.gaps.detect import iso
from s2p.gaps.service import GapService, GapsUnavailable
from s2p.match.cascade import MatchOutcome
from s2p.match.query import MatchQuery
from s2p.paths.forms import canonical
from s2p.paths.pathmap import PathMap
from s2p.stash.models import Scene
from s2p.sync.service import SyncService

log = logging.getLogger(__name__)

PLEX_WEB = "https://app.plex.tv/desktop/#!/server/{machine}/details?key=/library/metadata/{key}"
MAX_ITEMS = 20  # Plex items shown for one scene


class NoSuchScene(Exception):
    pass


class NotAvailable(Exception):
    """What was asked needs a part of s2p that is off; the message names the fix."""


class SceneReader(Protocol):
    def get(self, scene_id: str, *, deadline: Deadline) -> Scene | None: ...


def plex_link(machine: str | None, rating_key: str) -> str | None:
    """The item's page in Plex Web (app.plex.tv reaches any server the user signs in to)."""
    if not machine:
        return None
    return PLEX_WEB.format(machine=quote(machine, safe=""), key=quote(str(rating_key), safe=""))


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


class PluginService:
    def __init__(self, *, scenes: SceneReader, gaps: GapService, path_map: PathMap,
                 explain: Callable[[MatchQuery, Deadline], MatchOutcome],
                 plex: Callable[[], Any] | None, sync: SyncService | None, start_sync: Callable[[], None],
                 reachable: Callable[[], tuple[bool, str]], version: str,
                 redact: Callable[[str], str] = lambda text: text):
        self._scenes = scenes
        self._gaps = gaps
        self._map = path_map
        self._explain = explain  # the movie provider's match, afresh (nothing kept or recorded)
        self._plex = plex  # -> PlexItems, connected on first use; None: [plex] url and token unset
        self._sync = sync
        self._start_sync = start_sync
        self._reachable = reachable
        self.version = version
        self._redact = redact

    # ------------------------------------------------------------ plain facts

    def ping(self) -> dict[str, Any]:
        reachable, said = self._reachable()
        return {
            "s2p": self.version,
            "stash": {"reachable": reachable, ("version" if reachable else "problem"): said},
            "plex_configured": self._plex is not None,
            "live_sync": self._sync is not None,
            "gaps": self._gaps.summary(),
        }

    def machine_identifier(self) -> str | None:
        if self._plex is None:
            return None
        try:
            return self._plex().machine_identifier
        except Exception:  # a link is a nicety: the report stands without it
            return None

    # ------------------------------------------------------------ one scene

    def _scene(self, scene_id: str, deadline: Deadline) -> Scene:
        scene = self._scenes.get(scene_id, deadline=deadline)
        if scene is None:
            raise NoSuchScene(f"Stash has no scene {scene_id}")
        return scene

    def _plex_paths(self, scene: Scene) -> list[tuple[str, str | None]]:
        """(Stash path, Plex path or None) of each file."""
        pairs = []
        for file in scene.files:
            translated = self._map.to_plex(file.path)
            pairs.append((file.path, translated.path if translated else None))
        return pairs

    def status(self, scene_id: str, deadline: Deadline) -> dict[str, Any]:
        scene = self._scene(scene_id, deadline)
        paths = self._plex_paths(scene)
        answer: dict[str, Any] = {
            "scene": {"id": scene.id, "title": scene.title, "updated_at": scene.updated_at,
                      "files": [{"stash": stash, "plex": plex} for stash, plex in paths]},
            "plex": {"configured": self._plex is not None, "machine_identifier": None, "error": None},
            "items": [],
        }
        sections: list[Any] = []
        if self._plex is not None:
            try:
                items = self._plex()
                sections = items.sections()
                answer["plex"]["machine_identifier"] = items.machine_identifier
                found = items.find_scene(scene.id)[:MAX_ITEMS]
                answer["items"] = [self._item(item, sections, answer["plex"]["machine_identifier"])
                                   for item in found]
            except Exception as exc:  # Plex down or refusing: say so, and show what s2p knows itself
                answer["plex"]["error"] = self._redact(f"Plex cannot be asked: {exc}")
        answer.update(self._records(scene, [plex for _, plex in paths if plex]))
        answer["sync"] = self._queue(scene.id)
        answer["missing"] = None
        if not answer["items"] and answer["plex"]["error"] is None:
            answer["missing"] = self._why(scene, paths, sections, deadline, missing=True)
        return answer

    def explain(self, scene_id: str, deadline: Deadline) -> dict[str, Any]:
        """How s2p matches each of the scene's files (the match cascade), and where Plex would find them."""
        scene = self._scene(scene_id, deadline)
        paths = self._plex_paths(scene)
        sections: list[Any] = []
        if self._plex is not None:
            try:
                sections = self._plex().sections()
            except Exception as exc:
                log.info("the Stash plugin could not list Plex's libraries: %s", self._redact(str(exc)))
        return self._why(scene, paths, sections, deadline, missing=False)

    def _item(self, item: Any, sections: list[Any], machine: str | None) -> dict[str, Any]:
        section_id = str(getattr(item, "librarySectionID", "") or "")
        section = getattr(item, "librarySectionTitle", None) or next(
            (s.title for s in sections if str(s.key) == section_id), None)
        rating_key = str(item.ratingKey)
        files = [part.file for part in item.iterParts() if getattr(part, "file", None)] \
            if hasattr(item, "iterParts") else []
        return {
            "rating_key": rating_key, "title": getattr(item, "title", None), "type": getattr(item, "type", None),
            "section": section, "section_id": section_id or None, "guid": getattr(item, "guid", None),
            "added_at": iso(_epoch(getattr(item, "addedAt", None))),
            "updated_at": iso(_epoch(getattr(item, "updatedAt", None))),
            "files": files, "url": plex_link(machine, rating_key),
        }

    def _records(self, scene: Scene, plex_paths: list[str]) -> dict[str, Any]:
        try:
            return self._gaps.scene(scene.id, scene.updated_at, plex_paths)
        except GapsUnavailable as exc:
            return {"fetched_at": None, "fetched_version": None, "changed_since": None,
                    "changed_why": f"gap records are off: {exc}", "gaps": []}

    def _queue(self, scene_id: str) -> dict[str, Any]:
        if self._sync is None:
            return {"enabled": False, "queued": None}
        entry = self._sync.store.entry(scene_id)
        if entry is not None:
            entry = {**entry, "due": iso(entry["due"]) if entry["due"] else "now", "added": iso(entry["added"])}
        return {"enabled": True, "queued": entry}

    def _why(self, scene: Scene, paths: list[tuple[str, str | None]], sections: list[Any], deadline: Deadline,
             *, missing: bool) -> dict[str, Any]:
        """Each file's way into Plex; ``missing``: Plex has no item for the scene (say why)."""
        if not paths:
            return {"why": "the scene has no file in Stash, so Plex cannot have it", "files": []}
        roots = [(s.title, [canonical(loc) for loc in (getattr(s, "locations", None) or [])]) for s in sections]
        files = []
        for stash_path, plex_path in paths:
            entry: dict[str, Any] = {"stash": stash_path, "plex": plex_path, "library": None, "why": None,
                                     "explanation": None}
            if plex_path is None:
                entry["why"] = "no [[paths]] rule turns this Stash path into a Plex path"
                files.append(entry)
                continue
            folder = posixpath.dirname(canonical(plex_path))
            library = next((title for title, locations in roots for loc in locations
                            if folder == loc or folder.startswith(loc.rstrip("/") + "/")), None)
            entry["library"] = library
            outcome = self._explain(MatchQuery(kind=1, filename=plex_path), deadline)
            entry["explanation"] = outcome.as_dict()
            decided = outcome.decision.scene.id if outcome.decision is not None else None
            if sections and library is None:
                entry["why"] = (f"no Plex library on s2p's agent holds {folder}: add that folder to a library, "
                                "or check the path rules")
            elif decided == scene.id:
                entry["why"] = ("s2p matches this file to this scene" + (
                    ": Plex has not scanned it yet, or matched it with another agent (Scan folder in Plex, or "
                    "Fix Match in Plex)" if missing else ""))
            elif decided is not None:
                entry["why"] = f"s2p matches this file to scene {decided}, not to this one"
            else:
                entry["why"] = f"s2p finds no scene for this file: {outcome.reason or 'no candidate'}"
            files.append(entry)
        return {"why": files[0]["why"], "files": files}

    # ------------------------------------------------------------ changes

    def _live_sync(self) -> SyncService:
        if self._sync is None:
            raise NotAvailable("live sync is off: it needs [plex] url and token, and [sync] interval above 0")
        return self._sync

    def refresh(self, scene_id: str, deadline: Deadline, *, edited: bool = False) -> dict[str, Any]:
        """The scene's Plex items refreshed through the live-sync queue, at its head, now."""
        sync = self._live_sync()
        scene = self._scene(scene_id, deadline)
        sync.refresh_now(scene.id, "edited in Stash (the plugin's hook)" if edited else "asked in Stash")
        self._start_sync()
        return {"scene": scene.id, "queued": "first", "note": "Plex refreshes the scene's items within seconds"}

    def scan(self, scene_id: str, deadline: Deadline) -> dict[str, Any]:
        """A partial scan in Plex of the folders of the scene's files."""
        sync = self._live_sync()
        scene = self._scene(scene_id, deadline)
        try:
            folders = sync.scan_scenes([scene.id])
        except Exception as exc:
            raise NotAvailable(self._redact(f"Plex cannot be asked to scan: {exc}")) from None
        if not folders:
            raise NotAvailable("no folder of this scene's files is in a Plex library on s2p's agent (or no path "
                               "rule maps them): nothing to scan")
        return {"scene": scene.id, "folders": folders}
