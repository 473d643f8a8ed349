"""Worst-case time of path rules on hostile paths of the length s2p lets a
rule see ([match] rule_path_limit: DEFAULT_PATH_LIMIT by default, at most
MAX_PATH_LENGTH).

Run: .venv/bin/python bench/regex_worst_case.py

For each pattern it prints whether s2p accepts it as a rule and the slowest
of a set of adversarial paths (built from the pattern's own separators) for
accepted patterns, at the default limit and at the highest; refused patterns
are timed on a shorter path only to show why they are refused.  Last, a rule
whose repeated group can match a space two ways is timed on a few spaces:
its time doubles per character.
"""

from __future__ import annotations

import argparse
import itertools
import re
import time

from s2p.paths.pathmap import DEFAULT_PATH_LIMIT, MAX_PATH_LENGTH, RuleError, check_regex_safety

PATTERNS = [
    r"^/data/(.*)$",
    r"^/volume1/adult/(.*)$",
    r"/volume1/adult/(.*)",
    r"^(.*)/(.*)\.mp4$",
    r"^/data/(.*)/(.*)\.mp4$",
    r"^/data/([^/]+)/([^/]+)/([^/]+)/(.*)$",
    r"^/data/(.*)/(\d{4})-(\d\d)-(\d\d) (.*)$",
    r"^(a*)/(a*)/(a*)$",
    r"^/data/(.*)/(?:Studio|Other)/(.*)$",
    # refused
    r"^/data/(.*)/(.*)/(.*)\.mp4$",
    r"(.*)/(.*)\.mp4$",
    r"^(.+) - (.+) - (.+)\.mp4$",
]

# Refused as ambiguous: timed on the path that froze s2p, a few characters at a time.
AMBIGUOUS = r"^/media/ext/((?:.|\s)*)\.(mp4|mkv|avi|wmv)$"

SEPARATORS = ["/", "a/", " - ", "_", "a", "/data/", "1", "2023-01-01 "]


def hostile_paths(length: int):
    for sep in SEPARATORS:
        body = (sep * (length // len(sep) + 1))[: length - 8]
        yield "/data/" + body
        yield body + "x"


def slowest(pattern: re.Pattern[str], length: int) -> float:
    worst = 0.0
    for path in itertools.islice(hostile_paths(length), 40):
        started = time.perf_counter()
        pattern.search(path)
        worst = max(worst, time.perf_counter() - started)
    return worst


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="It takes no options: it runs every pattern above once.").parse_args(argv)
    print(f"slowest search per pattern, on paths of {DEFAULT_PATH_LIMIT} characters (the default limit) "
          f"and of {MAX_PATH_LENGTH} (the highest)")
    for text in PATTERNS:
        compiled = re.compile(text)
        try:
            check_regex_safety(text)
        except RuleError:
            print(f"  refused  {text:45}  {slowest(compiled, 600) * 1000:9.1f} ms at only 600 characters")
            continue
        print(f"  accepted {text:45}  {slowest(compiled, DEFAULT_PATH_LIMIT) * 1000:9.1f} ms"
              f"  {slowest(compiled, MAX_PATH_LENGTH) * 1000:9.1f} ms")
    try:
        check_regex_safety(AMBIGUOUS)
        verdict = "accepted"
    except RuleError:
        verdict = "refused"
    print(f"  {verdict:8} {AMBIGUOUS}, on '/media/ext/' + n spaces + 'x':")
    compiled = re.compile(AMBIGUOUS)
    for spaces in (14, 16, 18, 20, 22):
        started = time.perf_counter()
        compiled.search("/media/ext/" + " " * spaces + "x")
        print(f"    n = {spaces}: {(time.perf_counter() - started) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
