"""How well a scene's files agree with Plex's ``filename`` hint.  Pure.

Evidence, strongest first, with its score:

- ``path``: the hint, through the Plex->Stash rules, is the file's exact
  Stash path (100);
- ``suffix``: the last N >= 2 path components agree (93 + N, at most 100);
- ``basename``: only the file name agrees (90);
- ``suffix-folded``: N >= 2 components agree ignoring case, Unicode form and
  surrounding spaces (84 + N, at most 89);
- ``basename-folded``: the file name agrees that way (85).

Stronger evidence always scores strictly higher, also where the nominal
scores would meet (a 9-component suffix and an 8-component one both reach
100): the weaker is ranked one point below, so "the longest suffix wins"
holds for any depth and a tie means the evidence really is equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from s2p.paths.forms import HintPath, common_suffix, split_components
from s2p.stash.models import SceneSummary

SCORE_EXACT = 100
SCORE_BASENAME = 90
SCORE_BASENAME_FOLDED = 85


@dataclass(frozen=True)
class PathEvidence:
    scene: SceneSummary
    path: str  # the file of the scene that agrees best
    step: str
    strength: tuple[int, int]  # compared between candidates: higher is stronger
    score: int
    reason: str


def file_evidence(hint: HintPath, translated: tuple[str, ...] | None, scene: SceneSummary,
                  path: str) -> PathEvidence | None:
    components = split_components(path)
    if translated is not None and components == translated:
        return PathEvidence(scene, path, "path", (5, 0), SCORE_EXACT, f"the translated path is {path}")
    agree = common_suffix(hint.components, components)
    if translated is not None:
        agree = max(agree, common_suffix(translated, components))
    if agree >= 2:
        return PathEvidence(scene, path, "suffix", (4, agree), min(SCORE_EXACT, 93 + agree),
                            f"the last {agree} path components agree with {path}")
    if agree == 1:
        return PathEvidence(scene, path, "basename", (3, 1), SCORE_BASENAME, f"the file name agrees with {path}")
    folded = common_suffix(hint.components, components, fold=True)
    if translated is not None:
        folded = max(folded, common_suffix(translated, components, fold=True))
    if folded >= 2:
        return PathEvidence(scene, path, "suffix-folded", (2, folded), min(89, 84 + folded),
                            f"the last {folded} path components agree with {path}, ignoring case")
    if folded == 1:
        return PathEvidence(scene, path, "basename-folded", (1, 1), SCORE_BASENAME_FOLDED,
                            f"the file name agrees, ignoring case, with {path}")
    return None


def exact(scene: SceneSummary, path: str, reason: str) -> PathEvidence:
    return PathEvidence(scene, path, "path", (5, 0), SCORE_EXACT, reason)


def best_per_scene(hint: HintPath, translated: tuple[str, ...] | None,
                   scenes: Iterable[SceneSummary]) -> list[PathEvidence]:
    """Each scene's strongest file (a scene with several files is one candidate)."""
    found = []
    for scene in scenes:
        best: PathEvidence | None = None
        for file in scene.files:
            evidence = file_evidence(hint, translated, scene, file.path)
            if evidence and (best is None or evidence.strength > best.strength):
                best = evidence
        if best:
            found.append(best)
    return found


def ranked(evidence: Iterable[PathEvidence]) -> list[PathEvidence]:
    """Strongest first, with scores made strictly lower for weaker evidence."""
    ordered = sorted(evidence, key=lambda e: e.strength, reverse=True)
    result: list[PathEvidence] = []
    for item in ordered:
        if result:
            previous = result[-1]
            if item.strength < previous.strength and item.score >= previous.score:
                item = PathEvidence(item.scene, item.path, item.step, item.strength, previous.score - 1,
                                    item.reason + " (weaker than a longer agreement)")
            elif item.strength == previous.strength:
                item = PathEvidence(item.scene, item.path, item.step, item.strength, previous.score, item.reason)
        result.append(item)
    return result
