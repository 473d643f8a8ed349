"""Comparing Plex's library with Stash's scenes.  Pure: plain data in, gap
records out, no I/O.

Paths are compared as components (either separator, NFC Unicode, no drive
letter), first exactly and then ignoring case, because the same file is
often seen through mounts that disagree on those details.  A Plex file whose
path names no Stash file can still be known to Stash by its fingerprint
(oshash, when s2p can read the file) or, failing that, by the same file name
and size.

Staleness uses the pull model's own sync record: the version of a scene s2p
last served to Plex (its Stash ``updated_at``) or, when that is unknown, the
time it was served.  Plex's own ``updatedAt`` measures something else and
is never used.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Container, Iterable, Mapping, Sequence, TypeVar

from s2p.paths.forms import RefusedPath, parse_hint, split_components
from s2p.paths.pathmap import PathMap
from s2p.pms.models import PlexItem, PlexPart, PlexSection
from s2p.plex import contract
from s2p.stash.models import SceneSummary
from s2p.gaps.records import (AMBIGUOUS, MATCHED_ELSEWHERE, NO_MATCH, PLEX_ONLY, STALE, STASH_ONLY, Gap, digest)
from s2p.tv.layout import scanner_skips

if TYPE_CHECKING:
    from s2p.match.cascade import MatchOutcome
    from s2p.match.query import MatchQuery

# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class StashFile:
    path: str
    size: int | None = None
    oshash: str | None = None


@dataclass(frozen=True, slots=True)
class StashScene:
    id: str
    title: str | None
    updated_at: str | None
    files: tuple[StashFile, ...] = ()

    @classmethod
    def from_summary(cls, scene: SceneSummary) -> "StashScene":
        return cls(scene.id, scene.title, scene.updated_at,
                   tuple(StashFile(f.path, f.size or None, f.fingerprint("oshash")) for f in scene.files))


@dataclass(frozen=True, slots=True)
class SyncTimes:
    """When Plex last took a scene's metadata."""

    served_at: float | None = None  # epoch seconds: s2p served its metadata
    served_version: str | None = None  # the scene's updated_at in what was served
    external: float | None = None  # epoch seconds from Stash2Plex's sync_timestamps.json


# ---------------------------------------------------------------- small pure helpers


def path_key(path: str) -> str:
    """A path as comparable text: components joined by '/', NFC, no drive."""
    return "/".join(split_components(path))


_FRACTION = re.compile(r"\.(\d+)")
Found = TypeVar("Found")


def stash_time(value: str | None) -> float | None:
    """Epoch seconds of a Stash timestamp (RFC 3339, any offset, 'Z',
    nanoseconds), or ``None`` when it cannot be read."""
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python before 3.11 reads exactly 3 or 6 fraction digits; Go writes up to 9.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def staleness(updated_at: str | None, sync: SyncTimes | None) -> tuple[bool | None, str]:
    """(stale?, why).  ``None``: cannot tell (never served, no timestamp)."""
    changed = stash_time(updated_at)
    if changed is None:
        return None, "Stash gives no readable updated_at"
    if sync is None or (sync.served_at is None and sync.served_version is None and sync.external is None):
        return None, "Plex has never fetched it from s2p"
    if sync.external is not None and sync.external >= changed:
        return False, f"Stash2Plex synced it at {iso(sync.external)}"
    served_version = stash_time(sync.served_version)
    if served_version is not None:
        # What Plex holds is known exactly: the cache may have served an
        # older version after the scene changed, so the time alone is not enough.
        if served_version >= changed:
            return False, f"Plex has the version of {sync.served_version}"
        return True, (f"changed in Stash at {updated_at}; Plex last fetched it at {iso(sync.served_at)}, "
                      f"getting the version of {sync.served_version}")
    if sync.served_at is not None:
        if sync.served_at >= changed:
            return False, f"Plex fetched it at {iso(sync.served_at)}"
        return True, f"changed in Stash at {updated_at}; Plex last fetched it at {iso(sync.served_at)}"
    return True, f"changed in Stash at {updated_at}; Stash2Plex last synced it at {iso(sync.external)}"


def _unique(found: list[Found] | None) -> Found | None:
    return found[0] if found and len(found) == 1 else None


def _basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- the comparison


@dataclass
class _FileRef:
    scene: StashScene
    file: StashFile


@dataclass
class PlexIndex:
    """Every compared Plex part by file name, for settling scan-time records."""

    by_name: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # folded name -> [(key, ours)]
    locations: tuple[str, ...] = ()  # path keys of the compared sections' folders


@dataclass
class ComparisonResult:
    gaps: list[Gap]
    stats: dict[str, int]
    plex: PlexIndex


HashFile = Callable[[str, PlexSection], "str | None"]


class Comparison:
    """Feed Stash scenes, then Plex items (page by page), then ``finish()``.

    Memory stays proportional to the number of files: the Plex side is kept
    only as path keys, never as plexapi objects.
    """

    def __init__(self, *, path_map: PathMap, identifier: str, sections: Sequence[PlexSection],
                 sync: Mapping[str, SyncTimes], hash_file: HashFile | None = None, max_hashes: int = 2000,
                 tv_identifier: str | None = None):
        self._map = path_map
        self._identifier = identifier
        self._tv_identifier = tv_identifier
        self._sections = {s.key: s for s in sections}
        self._locations = [(s, path_key(loc)) for s in sections for loc in s.locations if path_key(loc)]
        self._sync = sync
        self._hash_file = hash_file
        self._hashes_left = max_hashes
        self._scenes: dict[str, StashScene] = {}
        self._exact: dict[str, list[_FileRef]] = {}
        self._folded: dict[str, list[_FileRef]] = {}
        self._by_oshash: dict[str, list[_FileRef]] = {}
        self._by_name_size: dict[tuple[str, int], list[_FileRef]] = {}
        self._plex_exact: set[str] = set()
        self._plex_folded: set[str] = set()
        self._present: set[str] = set()  # scene ids with a file in Plex
        self._found: set[str] = set()  # Stash file paths some Plex part is (by path, hash or name and size)
        self._linked: dict[str, list[PlexItem]] = {}  # scene id -> items carrying s2p's guid for it
        self._index = PlexIndex(locations=tuple(key for _s, key in self._locations))
        self._gaps: dict[tuple[str, str], Gap] = {}
        self.stats: dict[str, int] = {
            "stash_scenes": 0, "stash_files": 0, "plex_items": 0, "plex_parts": 0,
            "parts_by_path": 0, "parts_ignoring_case": 0, "parts_by_oshash": 0, "parts_by_name_and_size": 0,
            "parts_without_rule": 0, "never_served": 0,
        }

    # ------------------------------------------------------------ Stash side

    def add_scenes(self, scenes: Iterable[StashScene]) -> None:
        for scene in scenes:
            self._scenes[scene.id] = scene
            self.stats["stash_scenes"] += 1
            for file in scene.files:
                self.stats["stash_files"] += 1
                ref = _FileRef(scene, file)
                key = path_key(file.path)
                self._exact.setdefault(key, []).append(ref)
                self._folded.setdefault(key.casefold(), []).append(ref)
                if file.oshash:
                    self._by_oshash.setdefault(file.oshash.lower(), []).append(ref)
                if file.size:
                    self._by_name_size.setdefault((_basename(key).casefold(), file.size), []).append(ref)

    # ------------------------------------------------------------ Plex side

    def add_items(self, items: Iterable[PlexItem]) -> None:
        for item in items:
            self._add_item(item)

    def _add_item(self, item: PlexItem) -> None:
        self.stats["plex_items"] += 1
        section = self._sections.get(item.section) or PlexSection(item.section, item.section)
        ours = contract.scene_id_from_guid(self._identifier, item.guid)
        if ours is None and self._tv_identifier:
            ours = contract.scene_id_from_episode_guid(self._tv_identifier, item.guid)
        owners: dict[str, StashScene] = {}
        missing: list[Gap] = []
        for part in item.parts:
            self.stats["plex_parts"] += 1
            key = path_key(part.file)
            self._plex_exact.add(key)
            self._plex_folded.add(key.casefold())
            self._index.by_name.setdefault(_basename(key).casefold(), []).append((key, ours is not None))
            refs, how, stash_path = self._stash_files_for(part, section)
            if not refs:
                missing.append(self._plex_only(item, part, section, how, stash_path))
                continue
            for ref in refs:
                owners[ref.scene.id] = ref.scene
                self._present.add(ref.scene.id)
                self._found.add(ref.file.path)
        if ours is not None and ours in self._scenes:
            self._linked.setdefault(ours, []).append(item)
            self._present.add(ours)
        elsewhere = self._matched_elsewhere(item, section, ours, owners)
        if elsewhere is not None and missing and not owners and ours is None:
            # Stash has none of its files, so s2p could not have matched it either: one file, one
            # record ("In Plex, not in Stash"), which says how Plex holds the item too.
            missing = [replace(gap, reason=f"{gap.reason}; in Plex: {elsewhere.reason}") for gap in missing]
            elsewhere = None
        for gap in missing:
            self._add(gap)
        if elsewhere is not None:
            self._add(elsewhere)

    def _stash_files_for(self, part: PlexPart, section: PlexSection) -> tuple[list[_FileRef], str, str | None]:
        """The Stash file(s) a Plex part is, how they were found (or why
        not), and the part's path translated for Stash."""
        translated = self._map.to_stash(part.file)
        stash_path = translated.path if translated else None
        if translated is None:
            self.stats["parts_without_rule"] += 1
        else:
            key = path_key(translated.path)
            hits = self._exact.get(key)
            if hits:
                self.stats["parts_by_path"] += 1
                return hits, "path", stash_path
            ref = _unique(self._folded.get(key.casefold()))
            if ref is not None:
                self.stats["parts_ignoring_case"] += 1
                return [ref], "path ignoring case", stash_path
        if self._hash_file is not None and self._hashes_left > 0 and self._by_oshash:
            self._hashes_left -= 1
            oshash = self._hash_file(part.file, section)
            ref = _unique(self._by_oshash.get(oshash.lower())) if oshash else None
            if ref is not None:
                self.stats["parts_by_oshash"] += 1
                return [ref], "oshash", stash_path
        if part.size:
            ref = _unique(self._by_name_size.get((_basename(path_key(part.file)).casefold(), part.size)))
            if ref is not None:
                self.stats["parts_by_name_and_size"] += 1
                return [ref], "name and size", stash_path
        if stash_path is None:
            return [], "no plex_to_stash path rule applies to this path, so Stash cannot know it", None
        return [], f"Stash has no file at {stash_path}", stash_path

    def _plex_only(self, item: PlexItem, part: PlexPart, section: PlexSection, why: str,
                   stash_path: str | None) -> Gap:
        return Gap(
            PLEX_ONLY, path_key(part.file), why, digest(part.file, part.size),
            plex_path=part.file, stash_path=stash_path,
            rating_key=item.rating_key, section=section.title, title=item.title,
            detail={"guid": item.guid, "size": part.size},
        )

    def _matched_elsewhere(self, item: PlexItem, section: PlexSection, ours: str | None,
                           owners: dict[str, StashScene]) -> Gap | None:
        owner_ids = sorted(owners, key=_id_order)
        owned = f"; its file is scene {', '.join(owner_ids)} in Stash" if owner_ids else ""
        if ours is None:
            if not item.guid:
                reason = "Plex has not matched it" + owned
            elif item.guid.startswith("local://"):
                reason = f"no agent matched it (Plex keeps it as {item.guid})" + owned
            else:
                reason = f"matched by another agent ({item.guid})" + owned
        elif ours not in self._scenes:
            reason = f"carries s2p's guid for scene {ours}, which Stash no longer has"
            reason += f"; its file is now scene {', '.join(owner_ids)}" if owner_ids else ""
        elif owner_ids and ours not in owners:
            reason = f"carries s2p's guid for scene {ours}, but its file belongs to scene {', '.join(owner_ids)}"
        else:
            return None
        first = item.parts[0].file if item.parts else None
        stash_path = None
        if owner_ids:
            scene = owners[owner_ids[0]]
            stash_path = scene.files[0].path if scene.files else None
        return Gap(
            MATCHED_ELSEWHERE, item.rating_key, reason,
            digest(item.guid, *[(p.file, p.size) for p in item.parts], *owner_ids),
            plex_path=first, stash_path=stash_path, scene_id=ours or (owner_ids[0] if owner_ids else None),
            rating_key=item.rating_key, section=section.title, title=item.title,
            detail={"guid": item.guid, "stash_scenes": owner_ids, "plex_files": [p.file for p in item.parts]},
        )

    # ------------------------------------------------------------ the end

    def finish(self) -> ComparisonResult:
        for scene in self._scenes.values():
            # Every file counts: a scene Plex has may still lack its second file.
            gap = self._stash_only(scene)
            if gap is not None:
                self._add(gap)
        for scene_id, items in self._linked.items():
            gap = self._stale(self._scenes[scene_id], items)
            if gap is not None:
                self._add(gap)
        gaps = sorted(self._gaps.values(), key=lambda g: (g.kind, g.section or "", g.plex_path or g.stash_path or "",
                                                          g.key))
        for gap in gaps:
            self.stats[gap.kind] = self.stats.get(gap.kind, 0) + 1
        return ComparisonResult(gaps, dict(self.stats), self._index)

    def _section_of(self, key: str) -> tuple[PlexSection, str] | None:
        """The section whose folder holds ``key``, and that folder."""
        folded = key.casefold()
        for section, location in self._locations:
            if key == location or key.startswith(location + "/"):
                return section, location
        for section, location in self._locations:
            if folded == location.casefold() or folded.startswith(location.casefold() + "/"):
                return section, location
        return None

    def _stash_only(self, scene: StashScene) -> Gap | None:
        missing = []
        for file in scene.files:
            if file.path in self._found:
                continue  # Plex has this one, wherever it is
            translated = self._map.to_plex(file.path)
            if translated is None:
                continue
            key = path_key(translated.path)
            found = self._section_of(key)
            if found is None:
                continue  # outside every compared library: not a gap
            if key in self._plex_exact or key.casefold() in self._plex_folded:
                continue  # Plex has it, though the way back to Stash did not find it
            section, location = found
            # In a TV library, Plex's scanner adds only files named like episodes.
            skipped = scanner_skips(key[len(location):]) if section.type == "show" else None
            missing.append((file.path, translated.path, section, skipped))
        if not missing:
            return None
        stash_path, plex_path, section, skipped = missing[0]
        more = f" (and {len(missing) - 1} more file(s))" if len(missing) > 1 else ""
        why = f"; {skipped}" if skipped else ""
        return Gap(
            STASH_ONLY, scene.id, f"Plex has no file at {plex_path}{more}{why}",
            digest(scene.updated_at, *[m[0] for m in missing]),
            plex_path=plex_path, stash_path=stash_path, scene_id=scene.id, section=section.title,
            title=scene.title, detail={"files": [{"stash": s, "plex": p, "section": sec.title,
                                                  **({"tv_scanner": why_not} if why_not else {})}
                                                 for s, p, sec, why_not in missing]},
        )

    def _stale(self, scene: StashScene, items: list[PlexItem]) -> Gap | None:
        verdict, why = staleness(scene.updated_at, self._sync.get(scene.id))
        if verdict is None:
            if "never fetched" in why:
                self.stats["never_served"] += 1
            return None
        if not verdict:
            return None
        item = items[0]
        section = self._sections.get(item.section)
        return Gap(
            STALE, scene.id, why, digest(scene.updated_at),
            plex_path=item.parts[0].file if item.parts else None,
            stash_path=scene.files[0].path if scene.files else None,
            scene_id=scene.id, rating_key=item.rating_key, section=section.title if section else None,
            title=scene.title or item.title,
            detail={"updated_at": scene.updated_at, "rating_keys": [i.rating_key for i in items]},
        )

    def _add(self, gap: Gap) -> None:
        self._gaps.setdefault((gap.kind, gap.key), gap)


def _id_order(scene_id: str) -> tuple[int, str]:
    return (int(scene_id), scene_id) if scene_id.isdigit() else (1 << 62, scene_id)


# ---------------------------------------------------------------- scan-time observations


def observation_key(hints: MatchQuery) -> str | None:
    """What names a scan-time record: the file Plex sent, else the title."""
    if hints.filename and hints.filename.strip():
        try:
            hint = parse_hint(hints.filename)
        except RefusedPath:
            return None  # "../../etc/passwd": no file Plex names, nothing worth a record
        return hint.posix
    if hints.title:
        return f"title: {hints.title}" + (f" ({hints.year})" if hints.year else "")
    if hints.guid:
        return f"guid: {hints.guid}"
    return None


def observation(outcome: MatchOutcome, *, min_score: int, margin: int,
                from_plex: bool = True) -> tuple[str | None, Gap | None]:
    """(key, record) for one match Plex asked for.

    A record when the match ended with no scene or ambiguously; ``None``
    with the key when it matched (the key's records are then settled).
    Fix Match (manual) requests list candidates on purpose: never recorded.
    ``from_plex``: the request is known to come from Plex (its client
    identifier); other records last only while they name a file Plex has.
    """
    hints = outcome.query
    if hints.manual or outcome.error is not None:
        # Stash could not be asked: nothing is known about the file, so
        # nothing is recorded or settled (an outage is not a "no match").
        return None, None
    key = observation_key(hints)
    if key is None:
        return None, None
    if outcome.decision is not None:
        return key, None
    candidates = outcome.candidates
    ambiguous = (len(candidates) >= 2 and candidates[0].score >= min_score
                 and candidates[0].score - candidates[1].score < margin)
    kind = AMBIGUOUS if ambiguous else NO_MATCH
    reason = outcome.reason or "no scene found"
    listed = [{"scene": c.scene.id, "score": c.score, "step": c.step, "reason": c.reason,
               "title": c.scene.title} for c in candidates[:5]]
    version = digest(hints.filename, hints.ohash, outcome.translated, False,
                     *[(c.scene.id, c.score) for c in candidates[:5]])
    return key, Gap(
        kind, key, reason, version, plex_path=hints.filename, stash_path=outcome.translated, title=hints.title,
        detail={"hints": {name: value for name, value in (("title", hints.title), ("year", hints.year),
                                                          ("filename", hints.filename), ("guid", hints.guid),
                                                          ("ohash", hints.ohash)) if value is not None},
                "candidates": listed, "trace": list(outcome.trace)[:20], "error": outcome.error,
                "from_plex": from_plex},
    )


def settle_observations(open_records: Iterable[tuple[int, str]], plex: PlexIndex,
                        unvouched: Container[int] = frozenset()) -> list[tuple[int, str]]:
    """Scan-time records a complete comparison shows are over: the file is
    now matched by s2p, or it is not (or no longer) a file Plex has: an
    absolute path inside a compared library, or a relative one nowhere in
    them.  A record in ``unvouched`` (a request not known to come from Plex)
    lasts only while it names a file Plex has.  Returns [(record id, why)]."""
    settled = []
    for record_id, key in open_records:
        if key.startswith(("title: ", "guid: ")):
            if record_id in unvouched:
                settled.append((record_id, "not asked by Plex, and names no file Plex has"))
            continue
        try:
            hint = parse_hint(key)
        except RefusedPath:
            settled.append((record_id, "names no file Plex can have"))
            continue
        wanted = "/".join(hint.components)
        entries = plex.by_name.get(hint.basename.casefold(), [])
        same = [ours for k, ours in entries if k == wanted or k.endswith("/" + wanted)]
        if not same:
            folded = wanted.casefold()
            same = [ours for k, ours in entries if k.casefold() == folded or k.casefold().endswith("/" + folded)]
        if same and all(same):  # every Plex file this hint can mean is now matched by s2p
            settled.append((record_id, "Plex now has it matched by s2p"))
        elif same:
            continue
        elif not hint.absolute or any(wanted == loc or wanted.startswith(loc + "/") for loc in plex.locations):
            # A relative hint names no folder: no compared library holding it means Plex has no such file.
            settled.append((record_id, "the file is no longer in Plex"))
        elif record_id in unvouched:
            settled.append((record_id, "not asked by Plex, and names no file Plex has"))
    return settled
