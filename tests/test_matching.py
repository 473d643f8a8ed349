"""The cascade's scoring and decisions, on an in-memory scene source."""

import pytest
from helpers import MemorySource

from s2p.common.deadline import Deadline
from s2p.config import MatchSettings
from s2p.match import pathscore
from s2p.match.cascade import Candidate, Matcher
from s2p.paths.forms import RefusedPath, parse_hint
from s2p.paths.pathmap import PathMap, PathRule, Rewrite
from s2p.plex.hints import MatchHints
from s2p.stash.models import SceneSummary
from s2p.web.provider import to_query

IDENT = "tv.plex.agents.custom.s2p"


def summary(scene_id, *paths, title=None, date=None):
    return SceneSummary.model_validate({"id": scene_id, "title": title, "date": date,
                                        "files": [{"path": p, "basename": p.rsplit("/", 1)[-1]} for p in paths]})




SCENES = [
    summary("1", "/s/Alpha/2020/scene.mp4", title="Alpha One"),
    summary("2", "/s/Beta/2020/scene.mp4", title="Beta One"),
    summary("3", "/s/Gamma/Unique Name.mkv", title="Gamma"),
    summary("4", "/s/Delta/CaseName.mp4", title="Delta"),
    summary("5", "/s/Epsilon/a/b/c/d/deep.mp4", "/s/Epsilon/copy/deep.mp4", title="Deep"),
    summary("6", "/s/Zeta/Office Affair.mp4", title="Office Affair", date="2023-05-12"),
]
RULES = PathMap([PathRule("r", Rewrite.compile("^/s/(.*)$", r"/p/\1"), Rewrite.compile("^/p/(.*)$", r"/s/\1"))])


def matcher(**settings):
    return Matcher(MemorySource(SCENES), RULES, MatchSettings(**settings))


def run(m, **hints):
    return m.match(to_query(MatchHints(type=1, **hints), IDENT), Deadline(5))


def test_longest_agreeing_suffix_wins():
    outcome = run(matcher(), filename="Alpha/2020/scene.mp4")
    assert outcome.decision.scene.id == "1"
    assert outcome.decision.step == "suffix"
    assert [c.scene.id for c in outcome.candidates] == ["1", "2"]
    assert outcome.candidates[0].score > outcome.candidates[1].score


def test_shared_basename_alone_is_ambiguous_and_listed():
    outcome = run(matcher(), filename="2020/scene.mp4")
    assert outcome.decision is None and outcome.ambiguous
    assert "both score" in outcome.reason
    assert {c.scene.id for c in outcome.candidates} == {"1", "2"}


def test_exact_translated_path_scores_100():
    outcome = run(matcher(), filename="/p/Gamma/Unique Name.mkv")
    assert outcome.decision.score == 100 and outcome.decision.step == "path"
    assert outcome.translated == "/s/Gamma/Unique Name.mkv"


def test_basename_case_insensitive_scores_lower_but_still_matches():
    outcome = run(matcher(), filename="casename.MP4")
    assert outcome.decision.scene.id == "4" and outcome.decision.score == 85


def test_windows_hint_with_drive_letter_and_backslashes():
    outcome = run(matcher(), filename=r"C:\Media\Gamma\Unique Name.mkv")
    assert outcome.decision.scene.id == "3"
    assert outcome.decision.step == "suffix"


def test_scene_with_two_files_is_one_candidate():
    outcome = run(matcher(), filename="copy/deep.mp4")
    assert [c.scene.id for c in outcome.candidates] == ["5"]


def test_title_search_only_when_the_path_said_nothing():
    m = matcher()
    outcome = run(m, filename="Gamma/Unique Name.mkv", title="Gamma")
    assert ("search", "Gamma") not in m.source.calls
    outcome = run(m, title="Office Affair", year=2023)
    assert outcome.decision is None  # titles score at most 80
    assert outcome.candidates[0].scene.id == "6" and outcome.candidates[0].score == 80


def test_title_year_disagreement_lowers_the_score():
    same = run(matcher(), title="Office Affair", year=2023, manual=True).candidates[0].score
    other = run(matcher(), title="Office Affair", year=2019, manual=True).candidates[0].score
    assert other < same


def test_min_score_and_margin_are_configurable():
    assert run(matcher(min_score=70), title="Office Affair").decision.scene.id == "6"
    outcome = run(matcher(margin=10), filename="Alpha/2020/scene.mp4")
    assert outcome.decision is None and "only" in outcome.reason


def test_own_guid_short_circuits_and_foreign_guid_is_ignored():
    m = matcher()
    outcome = run(m, guid="tv.plex.agents.custom.s2p://movie/3", filename="Alpha/2020/scene.mp4")
    assert outcome.decision.scene.id == "3" and outcome.decision.step == "guid"
    assert m.source.calls == []
    outcome = run(matcher(), guid="com.plexapp.agents.none://123", filename="Alpha/2020/scene.mp4")
    assert outcome.decision.scene.id == "1"


@pytest.mark.parametrize("hint", ["../x.mp4", "a/../../b.mp4", "   ", "/"])
def test_hints_that_are_refused(hint):
    with pytest.raises(RefusedPath):
        parse_hint(hint)


def test_decide_orders_ties_deterministically():
    a, b = summary("10", "/x"), summary("9", "/y")
    ranked = sorted([Candidate(a, 90, "basename", ""), Candidate(b, 90, "basename", "")],
                    key=lambda c: (-c.score, int(c.scene.id)))
    decision, reason = Matcher(MemorySource([]), RULES, MatchSettings(min_score=85, margin=1)).rule.decide(ranked)
    assert decision is None and "scene 9 and scene 10" in reason


def test_score_paths_prefers_more_agreeing_components():
    hint = parse_hint("x/y/z/file.mp4")
    found = {c.scene.id: c.score for c in pathscore.best_per_scene(hint, None, [
        summary("1", "/r/x/y/z/file.mp4"), summary("2", "/r/q/y/z/file.mp4"), summary("3", "/r/q/q/z/file.mp4")])}
    assert found["1"] > found["2"] > found["3"] >= 95


# ---------------------------------------------------------------- the fuller cascade

def fp_summary(scene_id, path, oshash=None, md5=None, title=None):
    fingerprints = [{"type": k, "value": v} for k, v in (("oshash", oshash), ("md5", md5)) if v]
    return SceneSummary.model_validate({"id": scene_id, "title": title,
                                        "files": [{"path": path, "fingerprints": fingerprints}]})


def test_the_same_path_claimed_by_two_scenes_is_never_auto_matched():
    m = Matcher(MemorySource([summary("1", "/s/A/x.mp4"), summary("2", "/s/A/x.mp4")]), RULES, MatchSettings())
    outcome = run(m, filename="/p/A/x.mp4")
    assert outcome.decision is None and outcome.ambiguous
    assert [(c.scene.id, c.score, c.step) for c in outcome.candidates] == [("1", 100, "path"), ("2", 100, "path")]
    listed = run(m, filename="/p/A/x.mp4", manual=True)
    assert [c.scene.id for c in listed.candidates] == ["1", "2"]


def test_ohash_hint_matches_the_fingerprint_and_confirms_the_path():
    scenes = [fp_summary("1", "/s/A/x.mp4", oshash="00000000000000aa"), fp_summary("2", "/s/B/x.mp4")]
    m = Matcher(MemorySource(scenes), RULES, MatchSettings())
    outcome = run(m, filename="x.mp4", ohash="AA")  # Plex's hint, padded and lower-cased by validation
    assert outcome.decision.scene.id == "1" and outcome.decision.step == "ohash"
    assert ("ohash", "00000000000000aa: 1 scene(s)") in outcome.steps


def test_fix_match_accepts_a_typed_oshash_or_md5():
    scenes = [fp_summary("1", "/s/A/x.mp4", oshash="1234567890abcdef", md5="0" * 31 + "f")]
    m = Matcher(MemorySource(scenes), RULES, MatchSettings())
    assert run(m, title="1234567890ABCDEF", manual=True).candidates[0].step == "hash"
    assert run(m, title="0" * 31 + "F", manual=True).candidates[0].scene.id == "1"
    assert run(m, title="1234567890abcdef").candidates == []  # only in Fix Match


def test_rules_written_for_windows_paths_translate_the_hint_as_sent():
    windows = PathMap([PathRule("w", Rewrite.compile(r"^/s/(.*)$", r"D:\\Media\\\1"),
                                Rewrite.compile(r"^D:\\Media\\(.*)$", r"/s/\1"))])
    m = Matcher(MemorySource(SCENES), windows, MatchSettings())
    outcome = run(m, filename=r"D:\Media\Gamma\Unique Name.mkv")
    assert outcome.translated == "/s/Gamma\\Unique Name.mkv"
    assert outcome.decision.scene.id == "3" and outcome.decision.step == "path"


def test_hints_without_a_filename_say_so_and_use_the_title():
    outcome = run(matcher(min_score=70), title="Office Affair")
    assert ("filename", "no filename hint") in outcome.steps
    assert outcome.decision.scene.id == "6" and outcome.decision.step == "title"


def test_title_search_drops_release_tags_and_retries_one_word():
    m = matcher()
    run(m, title="Office.Affair.1080p", manual=True)
    assert ("search", "Office Affair") in m.source.calls
    m = matcher()
    outcome = run(m, title="Gamma Ümlaut Special", manual=True)  # no scene has all three words
    assert m.source.calls[-2:] == [("search", "Gamma Ümlaut Special"), ("search", "Special")]
    assert "then 'Special'" in dict(outcome.steps)["title"]


def test_explanation_lists_steps_candidates_and_decision():
    outcome = run(matcher(), filename="/p/Alpha/2020/scene.mp4")
    explained = outcome.as_dict()
    assert explained["source"] == "memory"
    assert explained["translated"] == "/s/Alpha/2020/scene.mp4"
    assert [s["step"] for s in explained["steps"]] == ["path", "name"]
    assert explained["candidates"][0] == {"scene": "1", "score": 100, "step": "path",
                                          "reason": "the translated path is /s/Alpha/2020/scene.mp4",
                                          "title": "Alpha One", "files": ["/s/Alpha/2020/scene.mp4"]}
    assert explained["decision"] == {"scene": "1", "score": 100, "step": "path"}
    assert explained["ambiguous"] is False


def test_surrounding_spaces_in_the_hint_are_ignored():
    outcome = run(matcher(), filename="  Gamma/Unique Name.mkv \t")
    assert outcome.decision.scene.id == "3" and outcome.decision.step == "suffix"


class NoLinks:
    base = ""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_the_match_service_keeps_decisions_but_not_crowds_nor_outages():
    from s2p.match.query import MatchQuery
    from s2p.match.service import MatchService, MovieMatches
    from s2p.plex.translate import TranslateOptions
    from s2p.stash.errors import StashUnavailable

    crowd = [summary(str(100 + i), f"/s/Folder{i}/shared.mp4") for i in range(30)]
    source = MemorySource(SCENES + crowd + [summary("99", "/s/Solo/solo.mp4")])
    told = []
    service = MatchService(MovieMatches(Matcher(source, RULES, MatchSettings()), TranslateOptions(IDENT)),
                           observers=[told.append])

    def answer(filename):
        return service.answer(MatchQuery(kind=1, filename=filename), NoLinks(), Deadline(5))

    for _ in range(2):
        assert answer("Solo/solo.mp4").outcome.decision.scene.id == "99"
    assert source.calls.count(("basename", "solo.mp4")) == 1
    assert len(told) == 2  # the observers hear of every request, kept answer or not

    for _ in range(2):
        outcome = answer("shared.mp4").outcome
        assert outcome.ambiguous and len(outcome.candidates) == 30
    # 30 candidates exceed what the cache keeps: the second match asked again
    assert source.calls.count(("basename", "shared.mp4")) == 2

    def down(*args):
        raise StashUnavailable("connection refused")

    source.with_basename = down
    found = answer("Alpha/2020/other.mp4")  # Stash down: an empty answer, never kept
    assert found.outcome.error and b'"size": 0' in found.data
    assert "Stash unavailable" in found.context["outcome"]
    source.with_basename = MemorySource(SCENES).with_basename
    assert answer("Alpha/2020/other.mp4").outcome.error is None


def test_a_number_no_stash_id_can_be_is_not_looked_up_as_one():
    source = MemorySource(SCENES)
    asked = []
    source.scene = lambda scene_id, deadline: asked.append(scene_id)
    m = Matcher(source, RULES, MatchSettings())
    run(m, title="99999999999999999999", manual=True)
    run(m, title="3", manual=True)
    assert asked == ["3"]
