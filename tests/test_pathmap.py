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


# The rule that froze s2p: a space is either '.' or '\s', so a near miss of
# n spaces is tried 2**n ways (30.7 s at 27 spaces).
FROZE = r"^/media/ext/((?:.|\s)*)\.(mp4|mkv|avi|wmv)$"


def test_the_rule_that_froze_every_request_really_freezes_a_plain_match():
    """The freeze, reproduced and cut off: 60 spaces would take centuries."""
    import subprocess
    import sys

    code = f"import re; re.search({FROZE!r}, '/media/ext/' + ' ' * 60 + 'x'); print('finished')"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=1)


@pytest.mark.parametrize("pattern", [
    FROZE,
    r"^(?:a|aa)*$",            # 'aa' is one round or two
    r"^(a?a)*x$",              # an optional part the next character cannot rule out
    r"^(.|\s){0,40}x$",        # bounded, still 2**40 ways
    r"^/m/(?:[a-z]|\w\w)+/x$",  # alternatives that start alike
    r"^/m/(?:\d|[0-9]{2})+$",
])
def test_a_repeated_group_that_matches_one_text_two_ways_is_refused(pattern):
    with pytest.raises(RuleError, match="more than one way") as caught:
        check_regex_safety(pattern)
    assert "exclusive" in caught.value.fix


@pytest.mark.parametrize("pattern", [
    r"^/data/(?:[^/]+/){2}(.*)$",        # each round ends at a slash
    r"^(?:ab|cd)*$",
    r"^(?:a|ab)*$",                      # after an 'a', a 'b' can only be this round's
    r"^(?:a?b)*$",
    r"^/data/((?:(?!\.).)*)\.mp4$",      # a character at a time, not a dot
    r"^/media/((?:[^/]|/)*)$",
    r"^/a/(.*)\.(mp4|mkv|avi|wmv)$",     # alternatives outside a repeat
])
def test_repeated_groups_that_match_one_way_pass(pattern):
    check_regex_safety(pattern)


@pytest.mark.parametrize("pattern", [
    r"^(.*)(?:a|b)(.*)(.*)$",            # alternatives between the repeats do not break the run
    r"^(.*)(?:/(.*))?(.*)$",             # nor does an optional group, whose repeat counts
    r"^((?:ab)*)((?:ab)*)((?:ab)*)$",    # repeats of more than one character
    r"^(.*)(?>x+)(.*)(.*)$",             # nor an atomic part
])
def test_polynomial_blowups_through_groups_are_refused(pattern):
    with pytest.raises(RuleError, match="three or more unbounded repeats"):
        check_regex_safety(pattern)


def test_the_rule_that_froze_stops_start_up_with_one_line_naming_the_key_and_the_fix():
    from s2p.config import ConfigError, load_settings

    environ = {"S2P_PATHS": '[{"name": "ext", "stash_to_plex": ["^/data/(.*)$", "/media/ext/\\\\1"], '
                            '"plex_to_stash": ["' + FROZE.replace("\\", "\\\\") + '", "/data/\\\\1.\\\\2"]}]'}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert "\n" not in line and '"ext": plex_to_stash' in line and "Fix: make the choices" in line


def test_rules_never_see_a_path_over_the_limit():
    limited = PathMap([NAS], max_length=300)
    assert limited.to_stash("/data/adult/" + "x" * 280).path == "/volume1/adult/" + "x" * 280
    assert limited.to_stash("/data/adult/" + "x" * 300) is None and limited.to_plex("/volume1/adult/" + "x" * 300) is None
    assert PathMap([NAS], max_length=10**6).max_length == 4096  # never above the highest


def test_the_limit_is_a_setting():
    from s2p.config import ConfigError, load_settings

    assert load_settings(None, {}).path_map().max_length == 1024
    assert load_settings(None, {"S2P_MATCH_RULE_PATH_LIMIT": "300"}).path_map().max_length == 300
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"S2P_MATCH_RULE_PATH_LIMIT": "100000"})
    assert "rule_path_limit" in caught.value.problems[0]
