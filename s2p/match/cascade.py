"""From Plex's hints to a Stash scene: the match cascade.

Each step adds candidates with a score (0-100) and a reason a person can
read; the outcome keeps every step tried, so ``s2p match``, ``/debug/match``
and the log can say why.  Automatic matching answers only when one scene
stands clearly first; Fix Match (``manual=1``) lists every candidate.

Where scenes come from is a ``SceneSource`` (``match.sources``: Stash
queries or the in-memory index).  The scoring is pure (``pathscore``,
``titles``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from s2p.common.deadline import Deadline
from s2p.config import MatchSettings
from s2p.match import pathscore
from s2p.match.localfiles import LocalFiles
from s2p.match.pathscore import SCORE_EXACT
from s2p.match.query import MatchQuery
from s2p.match.titles import fallback_word, search_text, similarity
from s2p.paths.forms import HintPath, RefusedPath, canonical, parse_hint, split_components
from s2p.paths.pathmap import PathMap
from s2p.stash.models import SceneSummary, release, title_of

log = logging.getLogger(__name__)

SCORE_TITLE_MAX = 80
# Title candidates less alike than this are noise, even in Fix Match.
MIN_TITLE_SIMILARITY = 0.5
# Stash's ids are GraphQL Ints: a longer number names no scene, and Stash is not asked.
MAX_SCENE_ID = 2**31 - 1
_OSHASH = re.compile(r"^[0-9a-fA-F]{16}$")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


class SceneSource(Protocol):
    """Where candidate scenes come from."""

    def describe(self) -> str:
        """A few words for explanations: what answers the lookups right now."""
        ...

    def scene(self, scene_id: str, deadline: Deadline) -> SceneSummary | None: ...

    def with_basename(self, basename: str, deadline: Deadline) -> list[SceneSummary]:
        """Scenes with a file of this name, compared without case (callers re-check)."""
        ...

    def with_plex_path(self, plex_path: str, deadline: Deadline) -> list[SceneSummary]:
        """Scenes with a file whose Plex path (through ``stash_to_plex``) is this one,
        where translating it back with ``plex_to_stash`` would not find the file."""
        ...

    def with_fingerprint(self, kind: str, value: str, deadline: Deadline) -> list[SceneSummary]:
        """Scenes with a file of this ``oshash`` or ``md5``."""
        ...

    def search(self, text: str, deadline: Deadline) -> list[SceneSummary]: ...


@dataclass(frozen=True)
class Candidate:
    scene: SceneSummary
    score: int
    # guid, id, hash, ohash, path, suffix, basename, suffix-folded,
    # basename-folded, file-oshash, title
    step: str
    reason: str


@dataclass
class MatchOutcome:
    query: MatchQuery
    candidates: list[Candidate] = field(default_factory=list)  # best first
    decision: Candidate | None = None
    reason: str = ""
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, what it found), in order
    translated: str | None = None  # the filename hint as a Stash path, when a rule applied
    source: str = ""  # what answered the lookups (the index, or Stash queries)
    error: str | None = None  # Stash could not be asked

    @classmethod
    def unavailable(cls, query: MatchQuery, error: str, source: str = "") -> MatchOutcome:
        """Stash could not be asked: no candidate now, and nothing final (Plex asks again)."""
        outcome = cls(query, source=source, error=error, reason=f"no match: Stash unavailable ({error})")
        outcome.note("stash", f"Stash could not be asked: {error}")
        return outcome

    def note(self, step: str, text: str) -> None:
        self.steps.append((step, text))

    @property
    def trace(self) -> list[str]:
        return [f"{step}: {text}" for step, text in self.steps]

    @property
    def ambiguous(self) -> bool:
        return self.decision is None and bool(self.candidates) and self.error is None

    def as_dict(self) -> dict:
        return {
            "hints": self.query.as_dict(),
            "source": self.source,
            "translated": self.translated,
            "steps": [{"step": step, "result": text} for step, text in self.steps],
            "trace": self.trace,
            "candidates": [
                {"scene": c.scene.id, "score": c.score, "step": c.step, "reason": c.reason,
                 "title": c.scene.title, "files": [f.path for f in c.scene.files]}
                for c in self.candidates
            ],
            "decision": None if self.decision is None else {
                "scene": self.decision.scene.id, "score": self.decision.score, "step": self.decision.step},
            "ambiguous": self.ambiguous,
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


class Ranked(Protocol):
    @property
    def score(self) -> int: ...

    @property
    def step(self) -> str: ...


R = TypeVar("R", bound=Ranked)


@dataclass(frozen=True)
class Rule(Generic[R]):
    """The one rule that decides a match automatically, for movies and TV
    alike: the best candidate reaches ``min_score`` and stands ``margin``
    above the next.  ``name`` says which candidate a reason speaks of."""

    min_score: int
    margin: int
    name: Callable[[R], str]

    def decide(self, ranked: Sequence[R]) -> tuple[R | None, str]:
        """(the candidate chosen or None, why) from candidates best first."""
        if not ranked:
            return None, "no candidates"
        best = ranked[0]
        if best.score < self.min_score:
            return None, f"best candidate scores {best.score}, below the minimum of {self.min_score}"
        if len(ranked) > 1 and best.score - ranked[1].score < self.margin:
            second = ranked[1]
            if best.score == second.score:
                return None, f"ambiguous: {self.name(best)} and {self.name(second)} both score {best.score}"
            return None, (f"ambiguous: {self.name(best)} scores {best.score}, only "
                          f"{best.score - second.score} above {self.name(second)}")
        return best, f"{self.name(best)} by {best.step}"


def _scene_name(candidate: Candidate) -> str:
    return f"scene {candidate.scene.id}"


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
    """The cascade.  ``match`` lets the source's errors through (Stash
    could not be asked): what an outage means is the match service's rule."""

    def __init__(self, source: SceneSource, path_map: PathMap, settings: MatchSettings,
                 local_files: LocalFiles | None = None):
        self.source = source
        self.path_map = path_map
        self.settings = settings
        self.local_files = local_files
        self.rule: Rule[Candidate] = Rule(settings.min_score, settings.margin, _scene_name)

    def match(self, hints: MatchQuery, deadline: Deadline) -> MatchOutcome:
        outcome = MatchOutcome(hints, source=self.source.describe())
        found = _Collector()
        self._run(hints, deadline, outcome, found)
        outcome.candidates = found.ranked()
        decision, reason = self.rule.decide(outcome.candidates)
        if decision is not None:
            reason = f"matched by {decision.step}: {decision.reason}"
        outcome.decision, outcome.reason = decision, reason
        return outcome

    def unavailable(self, query: MatchQuery, error: str) -> MatchOutcome:
        return MatchOutcome.unavailable(query, error, self.source.describe())

    def _conclusive(self, found: _Collector) -> bool:
        """One scene already scores 100 and stands alone: nothing can change the answer."""
        decision, _ = self.rule.decide(found.ranked())
        return decision is not None and decision.score >= SCORE_EXACT

    def _run(self, hints: MatchQuery, deadline: Deadline, outcome: MatchOutcome, found: _Collector) -> None:
        # 1. Our own guid: Plex re-matching an item it already had from us.
        if hints.guid:
            scene_id = hints.own.key if hints.own is not None and hints.own.kind == "movie" else None
            if scene_id is None:
                outcome.note("guid", f"{hints.guid!r} is not one of s2p's; ignored")
            else:
                scene = self.source.scene(scene_id, deadline)
                if scene is None:
                    outcome.note("guid", f"names scene {scene_id}, which Stash does not have")
                else:
                    found.add(Candidate(scene, SCORE_EXACT, "guid", f"Plex's guid names scene {scene_id}"))
                    outcome.note("guid", f"scene {scene_id}")
                    if not hints.manual:
                        return
        # 2. Fix Match with a scene id, an oshash or an md5 typed as the title.
        if hints.manual and hints.title:
            self._typed(hints.title, deadline, outcome, found)
        # 3. A file hash, when Plex sends one.
        if hints.ohash:
            scenes = self.source.with_fingerprint("oshash", hints.ohash, deadline)
            for scene in scenes:
                found.add(Candidate(scene, SCORE_EXACT, "ohash", f"oshash {hints.ohash} is a file of this scene"))
            outcome.note("ohash", f"{hints.ohash}: {len(scenes)} scene(s)")
        # 4. The file's path, then (where s2p can read the file) its oshash.
        if hints.filename:
            hint = self._by_filename(hints.filename, deadline, outcome, found)
            if hint is not None and self.local_files is not None and not self._conclusive(found):
                self._by_local_hash(hint, deadline, outcome, found)
        else:
            outcome.note("filename", "no filename hint")
        # 5. The title, when the file said nothing conclusive (or for Fix Match).
        if hints.title and self.settings.title_search and (
            hints.manual or found.top_score() < self.settings.min_score
        ):
            self._by_title(hints.title, hints.year, deadline, outcome, found)

    def _typed(self, text: str, deadline: Deadline, outcome: MatchOutcome, found: _Collector) -> None:
        if text.isdigit() and int(text) <= MAX_SCENE_ID:
            scene = self.source.scene(text, deadline)
            if scene is not None:
                found.add(Candidate(scene, SCORE_EXACT, "id", f"the title typed is scene id {text}"))
            outcome.note("id", f"scene {text}" if scene else f"no scene {text}")
            return
        kind = "oshash" if _OSHASH.match(text) else "md5" if _MD5.match(text) else None
        if kind:
            scenes = self.source.with_fingerprint(kind, text.lower(), deadline)
            for scene in scenes:
                found.add(Candidate(scene, SCORE_EXACT, "hash", f"the title typed is the {kind} of a file"))
            outcome.note("hash", f"{kind} {text.lower()}: {len(scenes)} scene(s)")

    def _by_filename(self, filename: str, deadline: Deadline, outcome: MatchOutcome,
                     found: _Collector) -> HintPath | None:
        try:
            hint = parse_hint(filename)
        except RefusedPath as exc:
            outcome.note("filename", f"refused: {exc}")
            return None
        translated_components = None
        basenames = [hint.basename]
        evidence: list[pathscore.PathEvidence] = []
        if hint.absolute:
            # Rules are written against what Plex sends (Windows paths
            # included); the separator-normalised form is the second try.
            translation = self.path_map.to_stash(hint.original.strip()) or self.path_map.to_stash(hint.posix)
            if translation is None:
                outcome.note("path", f"{hint.posix!r}: no plex_to_stash rule applies")
            else:
                outcome.translated = translation.path
                translated_components = split_components(translation.path)
                rule = f"rule {translation.rule!r}" if translation.rule else "no rules, same path"
                outcome.note("path", f"{hint.original.strip()!r} -> Stash {translation.path!r} ({rule})")
                if translated_components and translated_components[-1] not in basenames:
                    basenames.append(translated_components[-1])
            plex_key = canonical(hint.original.strip())
            for scene in self.source.with_plex_path(plex_key, deadline):
                path = self._file_with_plex_path(scene, plex_key) or ""
                evidence.append(pathscore.exact(scene, path, f"the path rules give {path} this Plex path"))
        else:
            outcome.note("path", f"{hint.posix!r} is relative: compared as a path suffix")
        scenes: dict[str, SceneSummary] = {}
        for basename in basenames:
            for scene in self.source.with_basename(basename, deadline):
                scenes.setdefault(scene.id, scene)
        evidence.extend(pathscore.best_per_scene(hint, translated_components, scenes.values()))
        best: dict[str, pathscore.PathEvidence] = {}
        for item in evidence:
            if item.scene.id not in best or item.strength > best[item.scene.id].strength:
                best[item.scene.id] = item
        candidates = pathscore.ranked(best.values())
        for item in candidates:
            found.add(Candidate(item.scene, item.score, item.step, item.reason))
        outcome.note("name", f"{hint.basename!r}: {len(scenes)} scene(s) have a file of this name, "
                             f"{len(candidates)} agree")
        return hint

    def _file_with_plex_path(self, scene: SceneSummary, plex_key: str) -> str | None:
        for file in scene.files:
            plex = self.path_map.to_plex(file.path)
            if plex is not None and canonical(plex.path) == plex_key:
                return file.path
        return None

    def _by_local_hash(self, hint: HintPath, deadline: Deadline, outcome: MatchOutcome, found: _Collector) -> None:
        assert self.local_files is not None
        local = self.local_files.lookup(hint, outcome.translated, deadline)
        if local is None:
            outcome.note("file-oshash", "no readable file under [match] media_roots")
            return
        if local.oshash is None:
            outcome.note("file-oshash", f"{local.path or 'the file'}: {local.problem}")
            return
        scenes = self.source.with_fingerprint("oshash", local.oshash, deadline)
        for scene in scenes:
            found.add(Candidate(scene, SCORE_EXACT, "file-oshash",
                                f"the file read at {local.path} has oshash {local.oshash}, a file of this scene"))
        outcome.note("file-oshash", f"{local.path}: oshash {local.oshash}, {len(scenes)} scene(s)")

    def _by_title(self, title: str, year: int | None, deadline: Deadline, outcome: MatchOutcome,
                  found: _Collector) -> None:
        text = search_text(title)
        if not text:
            outcome.note("title", f"{title!r} has nothing to search for once release tags are removed")
            return
        scenes = self.source.search(text, deadline)
        searched = repr(text)
        if not scenes:
            # Stash's q wants every word; one missing accent or apostrophe
            # finds nothing, so try the most distinctive word alone.
            word = fallback_word(title)
            if word and word != text:
                scenes = self.source.search(word, deadline)
                searched += f", then {word!r}"
        candidates = score_titles(title, year, scenes)
        for candidate in candidates:
            found.add(candidate)
        outcome.note("title", f"searched Stash for {searched}: {len(scenes)} found, {len(candidates)} alike enough")
