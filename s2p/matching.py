"""From Plex's hints to a Stash scene: the match cascade.

Each step adds candidates with a score (0-100) and a reason a person can
read.  Automatic matching answers only when one scene stands clearly first;
Fix Match (``manual=1``) lists every candidate.  The scoring is pure; where
scenes come from (Stash directly, or an in-memory index) is a ``SceneSource``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from .config import MatchSettings
from .deadline import Deadline
from .hintpaths import HintPath, RefusedPath, common_suffix, parse_hint, split_components
from .pathmap import PathMap
from .plex import contract
from .plex.hints import MatchHints
from .plex.translate import release, title_of
from .stash.api import StashAPI
from .stash.errors import StashError
from .stash.models import SceneSummary
from .titles import similarity

log = logging.getLogger("s2p.match")

SCORE_EXACT = 100
SCORE_BASENAME = 90
SCORE_BASENAME_FOLDED = 85
SCORE_TITLE_MAX = 80
# Title candidates less alike than this are noise, even in Fix Match.
MIN_TITLE_SIMILARITY = 0.5


class SceneSource(Protocol):
    """Where candidate scenes come from."""

    def scene(self, scene_id: str, deadline: Deadline) -> SceneSummary | None: ...

    def with_basename(self, basename: str, deadline: Deadline) -> list[SceneSummary]:
        """Scenes with a file of this name, compared without case (callers re-check)."""
        ...

    def with_oshash(self, oshash: str, deadline: Deadline) -> list[SceneSummary]: ...

    def search(self, text: str, deadline: Deadline) -> list[SceneSummary]: ...


class StashSource:
    """Every lookup is a Stash query (used until an index is available)."""

    def __init__(self, stash: StashAPI, scenes):
        self._stash = stash
        self._scenes = scenes

    def scene(self, scene_id: str, deadline: Deadline) -> SceneSummary | None:
        return self._scenes.get(scene_id, deadline=deadline)

    def with_basename(self, basename: str, deadline: Deadline) -> list[SceneSummary]:
        return self._stash.with_basename(basename, deadline=deadline)

    def with_oshash(self, oshash: str, deadline: Deadline) -> list[SceneSummary]:
        found = self._stash.by_hash(oshash=oshash, deadline=deadline)
        return [found] if found else []

    def search(self, text: str, deadline: Deadline) -> list[SceneSummary]:
        return self._stash.search(text, deadline=deadline)


@dataclass(frozen=True)
class Candidate:
    scene: SceneSummary
    score: int
    step: str  # guid, id, ohash, path, suffix, basename, basename-folded, title
    reason: str


@dataclass
class MatchOutcome:
    hints: MatchHints
    candidates: list[Candidate] = field(default_factory=list)  # best first
    decision: Candidate | None = None
    reason: str = ""
    trace: list[str] = field(default_factory=list)
    translated: str | None = None  # the filename hint as a Stash path, when a rule applied
    error: str | None = None  # Stash could not be asked

    @property
    def ambiguous(self) -> bool:
        return self.decision is None and bool(self.candidates) and self.error is None

    def as_dict(self) -> dict:
        return {
            "hints": self.hints.model_dump(exclude_none=True),
            "translated": self.translated,
            "trace": self.trace,
            "candidates": [
                {"scene": c.scene.id, "score": c.score, "step": c.step, "reason": c.reason,
                 "title": c.scene.title, "files": [f.path for f in c.scene.files]}
                for c in self.candidates
            ],
            "decision": None if self.decision is None else {
                "scene": self.decision.scene.id, "score": self.decision.score, "step": self.decision.step},
            "reason": self.reason,
            "error": self.error,
        }


class _Collector:
    def __init__(self) -> None:
        self.best: dict[str, Candidate] = {}

    def add(self, candidate: Candidate) -> None:
        current = self.best.get(candidate.scene.id)
        if current is None or candidate.score > current.score:
            self.best[candidate.scene.id] = candidate

    def ranked(self) -> list[Candidate]:
        return sorted(self.best.values(), key=lambda c: (-c.score, _id_order(c.scene.id)))

    def top_score(self) -> int:
        return max((c.score for c in self.best.values()), default=0)


def _id_order(scene_id: str) -> tuple[int, str]:
    return (int(scene_id), scene_id) if scene_id.isdigit() else (1 << 62, scene_id)


def decide(ranked: list[Candidate], min_score: int, margin: int) -> tuple[Candidate | None, str]:
    """The automatic decision: one candidate clearly first, or none."""
    if not ranked:
        return None, "no candidates"
    best = ranked[0]
    if best.score < min_score:
        return None, f"best candidate scores {best.score}, below the minimum of {min_score}"
    if len(ranked) > 1:
        second = ranked[1]
        if best.score - second.score < margin:
            if best.score == second.score:
                return None, f"ambiguous: scenes {best.scene.id} and {second.scene.id} both score {best.score}"
            return None, (f"ambiguous: scene {best.scene.id} scores {best.score}, only "
                          f"{best.score - second.score} above scene {second.scene.id}")
    return best, f"matched by {best.step}: {best.reason}"


def score_paths(
    hint: HintPath, translated: tuple[str, ...] | None, scenes: Iterable[SceneSummary]
) -> list[Candidate]:
    """Score scenes by how well their file paths agree with the hint.

    An exact path (after the Plex->Stash rules) scores 100; a suffix of two
    or more components 95-100, longer agreeing suffixes scoring higher; the
    file name alone 90, or 85 when it agrees only without case.
    """
    found = []
    for scene in scenes:
        best: Candidate | None = None
        for file in scene.files:
            candidate = _score_file(hint, translated, scene, file.path)
            if candidate and (best is None or candidate.score > best.score):
                best = candidate
        if best:
            found.append(best)
    return found


def _score_file(hint: HintPath, translated: tuple[str, ...] | None, scene: SceneSummary,
                path: str) -> Candidate | None:
    components = split_components(path)
    if translated is not None and components == translated:
        return Candidate(scene, SCORE_EXACT, "path", f"the translated path is {path}")
    agree = common_suffix(hint.components, components)
    if agree >= 2:
        return Candidate(scene, min(SCORE_EXACT, 93 + agree), "suffix",
                         f"the last {agree} path components agree with {path}")
    if agree == 1:
        return Candidate(scene, SCORE_BASENAME, "basename", f"the file name agrees with {path}")
    if common_suffix(hint.components, components, fold=True) >= 1:
        return Candidate(scene, SCORE_BASENAME_FOLDED, "basename-folded",
                         f"the file name agrees, ignoring case, with {path}")
    return None


def score_titles(title: str, year: int | None, scenes: Iterable[SceneSummary]) -> list[Candidate]:
    """At most 80: a title never outweighs any evidence from the file itself."""
    found = []
    for scene in scenes:
        alike = similarity(title, title_of(scene))
        if alike < MIN_TITLE_SIMILARITY:
            continue
        score = round(SCORE_TITLE_MAX * alike)
        reason = f"title {title_of(scene)!r} is {alike:.0%} alike"
        _, scene_year = release(scene.date)
        if year and scene_year:
            if year == scene_year:
                reason += f", same year {year}"
            else:
                score -= 15
                reason += f", but from {scene_year} rather than {year}"
        found.append(Candidate(scene, max(0, min(SCORE_TITLE_MAX, score)), "title", reason))
    return found


class Matcher:
    def __init__(self, source: SceneSource, path_map: PathMap, settings: MatchSettings, identifier: str):
        self.source = source
        self.path_map = path_map
        self.settings = settings
        self.identifier = identifier

    def match(self, hints: MatchHints, deadline: Deadline) -> MatchOutcome:
        outcome = MatchOutcome(hints)
        found = _Collector()
        try:
            self._run(hints, deadline, outcome, found)
        except StashError as exc:
            outcome.error = str(exc)
            outcome.trace.append(f"Stash could not be asked: {exc}")
            outcome.candidates = []
            outcome.reason = f"no match: Stash unavailable ({exc})"
            return outcome
        outcome.candidates = found.ranked()
        decision, reason = decide(outcome.candidates, self.settings.min_score, self.settings.margin)
        outcome.decision, outcome.reason = decision, reason
        return outcome

    def _run(self, hints: MatchHints, deadline: Deadline, outcome: MatchOutcome, found: _Collector) -> None:
        trace = outcome.trace
        # 1. Our own guid: Plex re-matching an item it already had from us.
        if hints.guid:
            scene_id = contract.scene_id_from_guid(self.identifier, hints.guid)
            if scene_id is None:
                trace.append(f"guid {hints.guid!r} is not one of s2p's; ignored")
            else:
                scene = self.source.scene(scene_id, deadline)
                if scene is None:
                    trace.append(f"guid names scene {scene_id}, which Stash does not have")
                else:
                    found.add(Candidate(scene, SCORE_EXACT, "guid", f"Plex's guid names scene {scene_id}"))
                    trace.append(f"guid: scene {scene_id}")
                    if not hints.manual:
                        return
        # 2. Fix Match with a number typed as the title: a scene id.
        if hints.manual and hints.title and hints.title.isdigit():
            scene = self.source.scene(hints.title, deadline)
            if scene is not None:
                found.add(Candidate(scene, SCORE_EXACT, "id", f"the title typed is scene id {hints.title}"))
                trace.append(f"id: scene {hints.title}")
        # 3. A file hash, when Plex sends one.
        if hints.ohash:
            scenes = self.source.with_oshash(hints.ohash, deadline)
            for scene in scenes:
                found.add(Candidate(scene, SCORE_EXACT, "ohash", f"oshash {hints.ohash} is a file of this scene"))
            trace.append(f"ohash {hints.ohash}: {len(scenes)} scene(s)")
        # 4. The file's path.
        if hints.filename:
            self._by_filename(hints.filename, deadline, outcome, found)
        else:
            trace.append("no filename hint")
        # 5. The title, when the file said nothing conclusive (or for Fix Match).
        if hints.title and self.settings.title_search and (
            hints.manual or found.top_score() < self.settings.min_score
        ):
            scenes = self.source.search(hints.title, deadline)
            candidates = score_titles(hints.title, hints.year, scenes)
            for candidate in candidates:
                found.add(candidate)
            trace.append(f"title {hints.title!r}: Stash found {len(scenes)}, {len(candidates)} alike enough")

    def _by_filename(self, filename: str, deadline: Deadline, outcome: MatchOutcome, found: _Collector) -> None:
        trace = outcome.trace
        try:
            hint = parse_hint(filename)
        except RefusedPath as exc:
            trace.append(f"filename refused: {exc}")
            return
        translated_components = None
        basenames = [hint.basename]
        if hint.absolute:
            translation = self.path_map.to_stash(hint.posix)
            if translation is None:
                trace.append(f"filename {hint.posix!r}: no plex_to_stash rule applies")
            else:
                outcome.translated = translation.path
                translated_components = split_components(translation.path)
                rule = f"rule {translation.rule!r}" if translation.rule else "no rules, same path"
                trace.append(f"filename {hint.posix!r} -> Stash {translation.path!r} ({rule})")
                if translated_components and translated_components[-1] not in basenames:
                    basenames.append(translated_components[-1])
        else:
            trace.append(f"filename {hint.posix!r} is relative: compared as a path suffix")
        scenes: dict[str, SceneSummary] = {}
        for basename in basenames:
            for scene in self.source.with_basename(basename, deadline):
                scenes.setdefault(scene.id, scene)
        candidates = score_paths(hint, translated_components, scenes.values())
        for candidate in candidates:
            found.add(candidate)
        trace.append(f"file name {hint.basename!r}: {len(scenes)} scene(s) share it, {len(candidates)} agree")
