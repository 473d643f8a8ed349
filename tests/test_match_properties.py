"""Properties of the path rules and the suffix matcher, over generated libraries.

A Stash path mapped to Plex and cut down to any suffix that belongs to one
scene only always matches back to that scene; a suffix that several scenes
share never matches automatically.  Hints come in every spelling Plex may
use: relative or absolute, ``/`` or ``\\``, NFC or NFD.
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2p.config import IndexSettings, MatchSettings
from s2p.common.deadline import Deadline
from s2p.paths.forms import split_components
from s2p.scenes.index import SceneIndex
from s2p.match.sources import IndexSource
from s2p.match.cascade import Matcher
from s2p.paths.pathmap import PathMap, PathRule, Rewrite
from s2p.match.query import MatchQuery
from s2p.stash.models import SceneSummary

STASH_ROOT, PLEX_ROOT = "/stash/lib", "/plex/media"
RULES = PathMap([PathRule("lib", Rewrite.compile(f"^{STASH_ROOT}/(.*)$", PLEX_ROOT + r"/\1"),
                          Rewrite.compile(f"^{PLEX_ROOT}/(.*)$", STASH_ROOT + r"/\1"))])

# A small pool of names, so generated libraries share folders, file names
# and names that differ only in case or accents.
FOLDERS = ["Studio", "studio", "Café", "Cafe\u0301", "Part 1", "Don't Stop", "[2023]", "Ümlaut", "日本", "a.b"]
NAMES = ["scene.mp4", "Scene.mp4", "Café Crème.mkv", "clip 01.mp4", "Don't Stop [Director's Cut] (2022).mkv",
         "日本の夏.mp4", "x.wmv"]


class NoStash:
    """Every file of the hint is in the index: the matcher must never need Stash."""

    def __getattr__(self, name):
        raise AssertionError(f"the matcher asked Stash ({name}) for a file the index knows")


relative_paths = st.tuples(st.lists(st.sampled_from(FOLDERS), min_size=0, max_size=7), st.sampled_from(NAMES))
scenes_files = st.lists(st.lists(relative_paths, min_size=1, max_size=2), min_size=1, max_size=8)


def library(files_per_scene, nfd_on_disk):
    scenes = []
    for number, files in enumerate(files_per_scene, start=1):
        paths = []
        for folders, name in files:
            path = "/".join([STASH_ROOT, *folders, name])
            paths.append(unicodedata.normalize("NFD", path) if nfd_on_disk else path)
        scenes.append(SceneSummary.model_validate({"id": str(number), "files": [{"path": p} for p in paths]}))
    return scenes


def matcher_over(scenes) -> Matcher:
    index = SceneIndex(None, RULES, IndexSettings())
    index.load([scenes])
    return Matcher(IndexSource(index, NoStash(), miss_ttl=0), RULES, MatchSettings())


def owners(scenes, suffix: tuple[str, ...]) -> set[str]:
    """Scenes with a file whose path ends with these components (compared in NFC)."""
    found = set()
    for scene in scenes:
        for file in scene.files:
            components = split_components(file.path)
            if components[len(components) - len(suffix):] == suffix:
                found.add(scene.id)
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=scenes_files, pick=st.data(), nfd_on_disk=st.booleans(), nfd_hint=st.booleans(),
       backslashes=st.booleans(), leading_slash=st.booleans())
def test_a_unique_suffix_matches_its_scene_and_a_shared_one_never_auto_matches(
        files, pick, nfd_on_disk, nfd_hint, backslashes, leading_slash):
    scenes = library(files, nfd_on_disk)
    scene = pick.draw(st.sampled_from(scenes))
    file = pick.draw(st.sampled_from(scene.files))
    plex = RULES.to_plex(file.path)
    assert plex is not None
    relative = split_components(plex.path)[len(split_components(PLEX_ROOT)):]
    keep = pick.draw(st.integers(min_value=1, max_value=len(relative)))
    suffix = relative[len(relative) - keep:]
    hint = ("\\" if backslashes else "/").join(suffix)
    if leading_slash:
        hint = ("\\" if backslashes else "/") + hint  # Plex's "relative" paths sometimes start with one
    if nfd_hint:
        hint = unicodedata.normalize("NFD", hint)

    outcome = matcher_over(scenes).match(MatchQuery(kind=1, filename=hint), Deadline(5))

    shared_by = owners(scenes, suffix)
    assert scene.id in shared_by
    if shared_by == {scene.id}:
        assert outcome.decision is not None, outcome.as_dict()
        assert outcome.decision.scene.id == scene.id
    else:
        assert outcome.decision is None, outcome.as_dict()
        # Fix Match still lists every scene that shares the suffix, level first.
        top = outcome.candidates[0].score
        assert shared_by <= {c.scene.id for c in outcome.candidates if c.score == top}


@settings(max_examples=200, deadline=None)
@given(files=scenes_files, pick=st.data(), backslashes=st.booleans())
def test_the_full_plex_path_matches_through_the_rules_unless_two_scenes_claim_it(files, pick, backslashes):
    scenes = library(files, nfd_on_disk=False)
    scene = pick.draw(st.sampled_from(scenes))
    file = pick.draw(st.sampled_from(scene.files))
    plex = RULES.to_plex(file.path).path
    assert RULES.to_stash(plex).path == file.path  # the rule round-trips every path under its root
    hint = plex.replace("/", "\\") if backslashes else plex
    outcome = matcher_over(scenes).match(MatchQuery(kind=1, filename=hint), Deadline(5))
    claimed = owners(scenes, split_components(file.path))
    if claimed == {scene.id}:
        assert (outcome.decision.scene.id, outcome.decision.step, outcome.decision.score) == (scene.id, "path", 100)
    else:
        assert outcome.decision is None
        assert {c.scene.id for c in outcome.candidates if c.step == "path"} == claimed


@settings(max_examples=200, deadline=None)
@given(folders=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                                min_size=1, max_size=12).filter(lambda t: t.strip(" ") not in ("", ".", "..")
                                                                and t == t.strip()),
                        min_size=1, max_size=5))
def test_path_rules_round_trip_any_path_under_their_root(folders):
    stash = "/".join([STASH_ROOT, *folders])
    plex = RULES.to_plex(stash)
    assert plex is not None and plex.path.startswith(PLEX_ROOT + "/")
    assert RULES.to_stash(plex.path).path == stash
