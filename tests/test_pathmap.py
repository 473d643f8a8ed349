import pytest

from s2p.paths.pathmap import PathMap, PathRule, Rewrite, RuleError, check_regex_safety


def rule(name, s2p, p2s, examples=()):
    return PathRule(name, Rewrite.compile(*s2p), Rewrite.compile(*p2s), tuple(examples))


NAS = rule("nas", ("^/volume1/adult/(.*)$", r"/data/adult/\1"), ("^/data/adult/(.*)$", r"/volume1/adult/\1"),
           ["/volume1/adult/Studio/a b.mp4"])


def test_translates_both_ways_and_names_the_rule():
    paths = PathMap([NAS])
    there = paths.to_plex("/volume1/adult/Studio/Don't [1080p].mp4")
    assert there.path == "/data/adult/Studio/Don't [1080p].mp4" and there.rule == "nas"
    back = paths.to_stash(there.path)
    assert back.path == "/volume1/adult/Studio/Don't [1080p].mp4"


def test_first_matching_rule_wins():
    broad = rule("broad", ("^/(.*)$", r"/all/\1"), ("^/all/(.*)$", r"/\1"))
    assert PathMap([NAS, broad]).to_plex("/volume1/adult/x.mp4").rule == "nas"
    assert PathMap([broad, NAS]).to_plex("/volume1/adult/x.mp4").rule == "broad"


def test_named_groups_in_replacements():
    named = rule("named", (r"^D:\\Videos\\(?P<rest>.*)$", r"/media/\g<rest>"),
                 (r"^/media/(?P<rest>.*)$", r"D:\\Videos\\\g<rest>"))
    assert PathMap([named]).to_plex(r"D:\Videos\Studio\x.mp4").path == r"/media/Studio\x.mp4"


def test_no_rules_means_same_paths_and_unmatched_means_none():
    assert PathMap().to_stash("/x/y.mp4").path == "/x/y.mp4"
    assert PathMap().to_stash("/x/y.mp4").rule is None
    assert PathMap([NAS]).to_stash("/elsewhere/y.mp4") is None


def test_round_trip_problems_are_reported_with_the_rule():
    lossy = rule("lossy", ("^/volume1/(.*)/(.*)$", r"/data/\2"), ("^/data/(.*)$", r"/volume1/\1"),
                 ["/volume1/Studio/a.mp4"])
    problems = PathMap([lossy]).round_trip_problems()
    assert len(problems) == 1 and '"lossy"' in problems[0] and "/volume1/a.mp4" in problems[0]
    assert PathMap([NAS]).round_trip_problems() == []


def test_example_shadowed_by_an_earlier_rule_is_reported():
    broad = rule("broad", ("^/(.*)$", r"/all/\1"), ("^/all/(.*)$", r"/\1"))
    problems = PathMap([broad, NAS]).round_trip_problems()
    assert problems and "comes first" in problems[0]


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(.*)*", r"(\w+\s?)*x", r"^(?:(?:x+)y)+$", r"(?=(a*)*)b"])
def test_catastrophic_patterns_are_refused(pattern):
    with pytest.raises(RuleError, match="exponential"):
        check_regex_safety(pattern)


@pytest.mark.parametrize("pattern", [r"^/data/(.*)$", r"^(.*)/(.*)\.mp4$", r"^/a{1,3}(b*)$", r"^[^/]+/(.+)$"])
def test_ordinary_patterns_pass(pattern):
    check_regex_safety(pattern)


def test_bad_regex_and_bad_group_reference_are_refused():
    with pytest.raises(RuleError, match="not a valid regular expression"):
        Rewrite.compile("^/data/(.*$", r"\1")
    with pytest.raises(RuleError, match="invalid"):
        Rewrite.compile("^/data/(.*)$", r"/media/\2")


def test_absurdly_long_paths_are_not_translated():
    assert PathMap([NAS]).to_plex("/volume1/adult/" + "x" * 10000) is None


@pytest.mark.parametrize("pattern", [
    r"^/data/(.*)/(.*)/(.*)\.mp4$",        # n**3 splits of a path full of slashes
    r"(.*)/(.*)\.mp4$",                    # unanchored: search() adds a third
    r"^(.+) - (.+) - (.+)\.mp4$",          # the repeats can take the whole separator
    r"^(.*)(.*)(.*)x$",
    r"^(.*)/(.*)/[^/]*/(.*)$",             # an optional part does not break the run
    r"\A/data/(.*?)/(.*?)/(.*?)$",
])
def test_polynomial_blowups_are_refused(pattern):
    with pytest.raises(RuleError, match="three or more unbounded repeats"):
        check_regex_safety(pattern)


@pytest.mark.parametrize("pattern", [
    r"^/data/([^/]+)/([^/]+)/([^/]+)/(.*)$",  # segments that cannot cross a slash
    r"^/data/(.*)/(.*)\.mp4$",
    r"/volume1/adult/(.*)",
    r"^(a*)/(a*)/(a*)$",
    r"^/data/(.*)/(\d{4})-(\d\d)-(\d\d) (.*)$",
    r"(?i)^/DATA/(.*)$",
])
def test_patterns_with_at_most_two_overlapping_repeats_pass(pattern):
    check_regex_safety(pattern)


def test_a_rule_that_would_take_minutes_stops_start_up():
    from s2p.config import ConfigError, load_settings

    environ = {"S2P_PATHS": '[{"name": "deep", "stash_to_plex": ["^/a/(.*)/(.*)/(.*)$", "/b/\\\\1/\\\\2/\\\\3"], '
                            '"plex_to_stash": ["^/b/([^/]*)/([^/]*)/(.*)$", "/a/\\\\1/\\\\2/\\\\3"]}]'}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    message = str(caught.value)
    assert '"deep"' in message and "stash_to_plex" in message and "[^/]*" in message
