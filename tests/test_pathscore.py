"""Path evidence and its scores (pure)."""

import unicodedata

from s2p.match import pathscore
from s2p.paths.forms import canonical, fold_name, parse_hint, split_components
from s2p.stash.models import SceneSummary


def summary(scene_id, *paths):
    return SceneSummary.model_validate({"id": scene_id, "files": [{"path": p} for p in paths]})


def score_paths(hint, translated, scenes):
    # What the match cascade does with a file name's evidence.
    return pathscore.ranked(pathscore.best_per_scene(hint, translated, scenes))


def scores(hint, scenes, translated=None):
    found = score_paths(parse_hint(hint), split_components(translated) if translated else None, scenes)
    return {c.scene.id: (c.score, c.step) for c in found}


def test_longer_suffix_always_scores_higher_even_past_100():
    deep = "a/b/c/d/e/f/g/h/file.mp4"  # 9 components
    found = scores(deep, [summary("1", "/r/" + deep), summary("2", "/r/x/b/c/d/e/f/g/h/file.mp4"),
                          summary("3", "/r/x/y/c/d/e/f/g/h/file.mp4")])
    assert found["1"][0] == 100
    assert found["1"][0] > found["2"][0] > found["3"][0] >= 95
    assert {step for _, step in found.values()} == {"suffix"}


def test_exact_path_outranks_a_copy_with_a_long_shared_suffix():
    # A second copy of the library in Stash: only the root differs.
    tail = "Studio/Series/Season/Part/Cut/Disc/file.mp4"
    found = scores("/p/" + tail, [summary("1", "/s/" + tail), summary("2", "/old/" + tail)], translated="/s/" + tail)
    assert found["1"] == (100, "path")
    assert found["2"][0] == 99 and found["2"][1] == "suffix"


def test_equal_evidence_scores_equal():
    found = scores("x/file.mp4", [summary("1", "/a/x/file.mp4"), summary("2", "/b/x/file.mp4")])
    assert found["1"] == found["2"] == (95, "suffix")


def test_case_differences_score_below_exact_case():
    found = scores("Studio/File.mp4", [summary("1", "/s/Other/File.mp4"), summary("2", "/s/studio/file.MP4"),
                                        summary("3", "/s/nope/FILE.mp4")])
    assert found["1"] == (90, "basename")
    assert found["2"] == (86, "suffix-folded")
    assert found["3"] == (85, "basename-folded")


def test_unicode_forms_and_trailing_spaces_agree():
    nfd = unicodedata.normalize("NFD", "Studio Ümlaut/Café Crème.mp4")
    found = scores(nfd, [summary("1", "/s/Studio Ümlaut/Café Crème.mp4")])
    assert found["1"] == (95, "suffix")
    found = scores("Studio /file.mp4", [summary("1", "/s/Studio/file.mp4")])
    assert found["1"] == (90, "basename")  # the folder agrees only once spaces are ignored...
    found = scores("Studio /other.mp4", [summary("1", "/s/Studio/OTHER.mp4")])
    assert found["1"] == (86, "suffix-folded")  # ...which the folded comparison does


def test_a_scene_with_several_files_counts_its_best_file_once():
    found = score_paths(parse_hint("copy/deep.mp4"), None,
                        [summary("5", "/s/a/deep.mp4", "/s/copy/deep.mp4")])
    assert [(c.scene.id, c.step) for c in found] == [("5", "suffix")]


def test_canonical_and_fold():
    path = "/s/Studio/file.mp4"
    assert canonical(path) is path  # already canonical: no second copy
    assert canonical("C:\\Media\\\\x.mp4") == "/Media/x.mp4"
    assert canonical(unicodedata.normalize("NFD", "/é")) == "/é"
    assert fold_name(" Ünïcode.MP4  ") == fold_name(unicodedata.normalize("NFD", "ünïcode.mp4"))
