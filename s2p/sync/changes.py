"""What changed in Stash since the last look, in a few queries whatever the
library's size.

Scenes updated since then, and the performers, studios, tags and groups
updated since then with the scenes they appear in: Stash does not move a
scene's ``updated_at`` when its performer is renamed, yet the scene's Plex
metadata shows the name.  Stash compares its timestamps as text, so the
look reaches back ``overlap`` seconds (as the index refresh does) and the
versions already handled are remembered, so nothing is reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from s2p.common.deadline import Deadline
from s2p.scenes.index import minus_seconds
from s2p.stash.api import StashAPI
from s2p.sync.store import SyncStore

KINDS = ("performer", "studio", "tag", "group")


@dataclass
class Look:
    """One look's findings: changed scenes with why, and what to remember."""

    changes: dict[str, str] = field(default_factory=dict)  # scene id -> reason
    studios: list[str] = field(default_factory=list)  # studios edited (their TV shows change too)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, stamp)
    newest: str | None = None
    baseline: bool = False  # the first look: it only sets the starting point
    queries: int = 0

    def note(self, stamp: str) -> None:
        if stamp and (self.newest is None or stamp > self.newest):
            self.newest = stamp


class Index(Protocol):
    """The scene index, as far as sync reads it (``SceneIndex``)."""

    def changed_since(self, stamp: str) -> list[tuple[str, str]] | None: ...

    def newest(self) -> str | None: ...


def look(stash: StashAPI, store: SyncStore, overlap: float, deadline: Deadline,
         index: Index | None = None) -> Look:
    """Ask Stash what changed since the store's last look (nothing is written).
    With the scene ``index``, the scenes updated since come from its refresh
    (which asks Stash exactly that) instead of a query of sync's own."""
    found = Look()
    since = store.since()
    if since is None:
        # First look: start from Stash's newest change, and take everything
        # within the overlap before it as handled, so edits made before s2p
        # knew Plex are not all refreshed at once.
        since = index.newest() if index is not None else None
        if since is None:
            newest = stash.summaries(per_page=1, sort="updated_at", direction="DESC", deadline=deadline)
            found.queries += 1
            since = newest[0].updated_at if newest and newest[0].updated_at else None
        found.baseline = True
        if since is None:
            return found  # an empty library: the next look tries again
    found.note(since)
    reach = minus_seconds(since, overlap) or since
    after = {"value": reach, "modifier": "GREATER_THAN"}

    scenes = index.changed_since(reach) if index is not None else None
    if scenes is None:  # no index, or not loaded yet
        scenes = stash.scene_stamps({"updated_at": after}, deadline=deadline)
        found.queries += 1
    handled = store.seen("scene", [scene_id for scene_id, _ in scenes])
    for scene_id, stamp in scenes:
        found.note(stamp)
        if handled.get(scene_id) != stamp:
            found.changes[scene_id] = "edited in Stash"
            found.seen.append(("scene", scene_id, stamp))

    for kind in KINDS:
        entities = stash.changed(kind, reach, deadline=deadline)
        found.queries += 1
        handled = store.seen(kind, [entity_id for entity_id, _ in entities])
        fresh = [(entity_id, stamp) for entity_id, stamp in entities if handled.get(entity_id) != stamp]
        for _, stamp in entities:
            found.note(stamp)
        if not fresh:
            continue
        found.seen += [(kind, entity_id, stamp) for entity_id, stamp in fresh]
        if found.baseline:
            continue  # remembered as handled; their scenes are not refreshed
        if kind == "studio":
            found.studios += [entity_id for entity_id, _ in fresh]
        members = stash.scene_stamps({f"{kind}s": {"value": [entity_id for entity_id, _ in fresh],
                                                   "modifier": "INCLUDES"}}, deadline=deadline)
        found.queries += 1
        for scene_id, _ in members:
            found.changes.setdefault(scene_id, f"its {kind} was edited in Stash")
    if found.baseline:
        found.changes = {}
    return found


def commit(store: SyncStore, found: Look, overlap: float) -> None:
    """Remember a look: the high-water mark, and the versions it handled."""
    if found.newest is None:
        return
    store.advance(found.newest, found.seen, minus_seconds(found.newest, 2 * overlap))
