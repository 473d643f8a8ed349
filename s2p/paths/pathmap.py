"""Bidirectional path translation between Stash's and Plex's filesystems.

Plex and Stash often mount the same library at different places (a NAS share
seen as ``/volume1/adult`` by Stash and ``/data/adult`` inside Plex's
container).  Users write each direction explicitly as a regex rewrite; one
direction is never derived from the other, and the examples of every rule
must survive a Stash -> Plex -> Stash round trip at start-up.

Everything here is pure: no I/O beyond a DEBUG log line per translation.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

if sys.version_info >= (3, 11):
    import re._compiler as _sre_compile
    import re._parser as _sre_parse
    import re._constants as _sre_constants
else:  # pragma: no cover - Python 3.10
    import sre_compile as _sre_compile
    import sre_constants as _sre_constants
    import sre_parse as _sre_parse

log = logging.getLogger(__name__)

# Paths longer than this are refused before any regex runs: together with the
# nested-quantifier check below it bounds the work a rule can do per call.
MAX_PATH_LENGTH = 4096


class RuleError(ValueError):
    """A path rule that cannot be used; the message says which and why."""


def check_regex_safety(pattern: str) -> None:
    """Refuse patterns whose matching time can explode (nested repeats).

    ``(a+)+``, ``(.*)*`` or ``(\\w+\\s?)*`` backtrack exponentially on a
    near-miss.  Python's ``re`` has no timeout, so such rules are refused
    when the configuration is loaded instead of hanging a request later.
    """
    try:
        tree = _sre_parse.parse(pattern)
    except re.error as exc:
        raise RuleError(f"not a valid regular expression: {exc}") from None
    if _has_nested_repeat(tree, inside_unbounded=False):
        raise RuleError(
            "a repeated group contains another unbounded repeat (like '(a+)+' or '(.*)*'); "
            "such patterns can take exponential time, so rewrite it without the nested repeat"
        )
    if _overlapping_repeats(tree) > MAX_OVERLAPPING_REPEATS:
        raise RuleError(
            "three or more unbounded repeats in a row can take the same characters (like "
            "'(.*)/(.*)/(.*)', or '(.*)/(.*)' without a leading '^'); on a long path such a pattern "
            "takes minutes, so anchor it with '^' and match single path segments with '([^/]*)'"
        )


_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
if hasattr(_sre_constants, "POSSESSIVE_REPEAT"):
    _REPEATS.add(_sre_constants.POSSESSIVE_REPEAT)
_ATOMIC = getattr(_sre_constants, "ATOMIC_GROUP", None)


# A parsed pattern (re's SubPattern, iterable though its stubs do not say so) holds
# (opcode, argument) pairs whose argument's shape depends on the opcode: typed Any.
def _has_nested_repeat(items: Any, inside_unbounded: bool) -> bool:
    """True when an unbounded repeat sits inside another unbounded repeat."""
    for op, av in items:
        if op in _REPEATS:
            _lo, hi, body = av
            unbounded = hi == _sre_constants.MAXREPEAT
            if unbounded and inside_unbounded:
                return True
            if _has_nested_repeat(body, inside_unbounded or unbounded):
                return True
        elif op == _sre_constants.SUBPATTERN:
            if _has_nested_repeat(av[-1], inside_unbounded):
                return True
        elif op == _sre_constants.BRANCH:
            if any(_has_nested_repeat(branch, inside_unbounded) for branch in av[1]):
                return True
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            if _has_nested_repeat(av[1], inside_unbounded):
                return True
        elif _ATOMIC is not None and op == _ATOMIC:
            if _has_nested_repeat(av, inside_unbounded):
                return True
    return False


# Unbounded repeats in a row that can all take the same characters split a
# near-miss path in about n**k ways (k repeats, n characters): at
# MAX_PATH_LENGTH two take a fraction of a second, three take minutes.
MAX_OVERLAPPING_REPEATS = 2
# Characters tried against each part of a pattern to see what it accepts.
_PROBES = [chr(c) for c in range(32, 127)] + ["\t", "\n", "\u00e9", "\u65e5", "\u00a0"]
_ALL = frozenset(_PROBES)
_ZERO_WIDTH = {_sre_constants.AT, _sre_constants.ASSERT, _sre_constants.ASSERT_NOT}
_ONE_CHAR = {_sre_constants.LITERAL, _sre_constants.NOT_LITERAL, _sre_constants.ANY, _sre_constants.IN,
             _sre_constants.CATEGORY}


def _accepts(state: _sre_parse.State, items: Iterable[tuple[Any, Any]]) -> frozenset[str]:
    """The probe characters a part of a pattern matches on its own."""
    try:
        compiled = _sre_compile.compile(_sre_parse.SubPattern(state, list(items)), 0)
    except Exception:  # a part that cannot stand alone (a back-reference): accepts nothing
        return frozenset()
    return frozenset(c for c in _PROBES if compiled.fullmatch(c))


def _sequence(tree: Any) -> list[tuple[str, frozenset[str], int]]:
    """The pattern as a flat sequence of (kind, accepted characters, minimum)
    with kind "repeat" (unbounded), "one" (a required character), "skip"
    (zero-width or optional) or "stop" (anything this analysis does not follow)."""
    out: list[tuple[str, frozenset[str], int]] = []
    for op, av in tree:
        if op in _ZERO_WIDTH:
            out.append(("skip", frozenset(), 0))
        elif op in _ONE_CHAR:
            out.append(("one", _accepts(tree.state, [(op, av)]), 1))
        elif op == _sre_constants.SUBPATTERN:
            out.extend(_sequence(av[-1]))
        elif op in (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT):
            lo, hi, body = av
            accepted = _accepts(tree.state, body)
            if hi == _sre_constants.MAXREPEAT:
                out.append(("repeat", accepted, lo))
            elif lo == 0:
                out.append(("skip", frozenset(), 0))
            else:
                out.append(("one", accepted, 1) if accepted else ("stop", frozenset(), 0))
        else:  # alternation, possessive and atomic parts, back-references
            out.append(("stop", frozenset(), 0))
    return out


def _overlapping_repeats(tree: Any) -> int:
    """The longest run of unbounded repeats that can all take some common
    characters, including every required character between them (so the
    repeats can shift the split points anywhere)."""
    items = _sequence(tree)
    data = list(tree)
    anchored = bool(data) and data[0] in ((_sre_constants.AT, _sre_constants.AT_BEGINNING),
                                          (_sre_constants.AT, _sre_constants.AT_BEGINNING_STRING))
    if not anchored:
        # search() tries every start position: an implicit leading repeat.
        items.insert(0, ("repeat", _ALL, 0))
    longest = 0
    for start, (kind, accepted, _minimum) in enumerate(items):
        if kind != "repeat" or not accepted:
            continue
        required: list[frozenset[str]]
        common, required, count = accepted, [], 1
        for kind, accepted, minimum in items[start + 1:]:
            if kind == "skip":
                continue
            if kind == "repeat":
                narrowed = common & accepted
                if narrowed and all(r & narrowed for r in required):
                    common, count = narrowed, count + 1
                    continue
                if minimum == 0:
                    continue  # it can match nothing and let the run go on
                kind = "one"
            if kind == "one" and accepted & common:
                required.append(accepted)
                continue
            break
        longest = max(longest, count)
    return longest


@dataclass(frozen=True)
class Rewrite:
    """One direction of a rule: the first match of ``pattern`` is replaced."""

    pattern: re.Pattern[str]
    replacement: str

    @classmethod
    def compile(cls, pattern: str, replacement: str) -> "Rewrite":
        check_regex_safety(pattern)
        compiled = re.compile(pattern)
        # Bad group references (\3 with two groups) are caught now rather
        # than on the first real path.
        try:
            _validate_template(compiled, replacement)
        except (re.error, IndexError) as exc:
            raise RuleError(f"replacement {replacement!r} is invalid for this pattern: {exc}") from None
        return cls(compiled, replacement)

    def apply(self, path: str) -> str | None:
        m = self.pattern.search(path)
        if m is None:
            return None
        return path[: m.start()] + m.expand(self.replacement) + path[m.end():]


def _validate_template(pattern: re.Pattern[str], replacement: str) -> None:
    # A throwaway pattern with the same group names and count lets re check
    # the template without needing a path that matches the real pattern.
    names = {index: name for name, index in pattern.groupindex.items()}
    parts = [f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, pattern.groups + 1)]
    probe = re.compile("".join(parts))
    m = probe.match("")
    assert m is not None
    m.expand(replacement)


@dataclass(frozen=True)
class PathRule:
    name: str
    stash_to_plex: Rewrite
    plex_to_stash: Rewrite
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Translation:
    """The result of translating one path, with the rule that produced it."""

    path: str
    rule: str | None  # None: no rules are configured, the path is used as is


class PathMap:
    """Ordered rules; the first rule whose pattern matches wins.

    With no rules configured both filesystems are taken to be the same and
    paths pass through unchanged.  With rules configured, a path that no rule
    matches has no counterpart (``None``): it lies outside the mapped library.
    """

    def __init__(self, rules: Sequence[PathRule] = ()):
        self.rules: tuple[PathRule, ...] = tuple(rules)

    def to_plex(self, stash_path: str) -> Translation | None:
        return self._translate(stash_path, "stash_to_plex")

    def to_stash(self, plex_path: str) -> Translation | None:
        return self._translate(plex_path, "plex_to_stash")

    def _translate(self, path: str, direction: str) -> Translation | None:
        if len(path) > MAX_PATH_LENGTH:
            log.debug("%s: path of %d characters refused", direction, len(path))
            return None
        if not self.rules:
            return Translation(path, None)
        for rule in self.rules:
            result = getattr(rule, direction).apply(path)
            if result is not None:
                log.debug("%s via rule %r: %r -> %r", direction, rule.name, path, result)
                return Translation(result, rule.name)
        log.debug("%s: no rule matches %r", direction, path)
        return None

    def round_trip_problems(self) -> list[str]:
        """Check every rule's examples: Stash -> Plex -> Stash must be identity.

        Returns human-readable problems (empty when all examples survive).
        """
        problems: list[str] = []
        for rule in self.rules:
            for example in rule.examples:
                problem = self._round_trip(rule, example)
                if problem:
                    problems.append(f'[[paths]] "{rule.name}": example \'{example}\': {problem}')
        return problems

    def _round_trip(self, rule: PathRule, example: str) -> str | None:
        to_plex = self.to_plex(example)
        if to_plex is None:
            return "no rule's stash_to_plex pattern matches it"
        if to_plex.rule != rule.name:
            return f"rule {to_plex.rule!r} comes first and translates it instead"
        back = self.to_stash(to_plex.path)
        if back is None:
            return f"translates to Plex path '{to_plex.path}', which no plex_to_stash pattern matches"
        if back.path != example:
            return (
                f"translates to Plex path '{to_plex.path}', which translates back to "
                f"'{back.path}' (via rule {back.rule!r}) instead of the example"
            )
        return None

    def describe(self) -> Iterable[str]:
        """One line per rule, for start-up diagnostics."""
        if not self.rules:
            yield "no path rules: Plex and Stash are taken to see the same paths"
        for rule in self.rules:
            yield (
                f'rule "{rule.name}": stash {rule.stash_to_plex.pattern.pattern!r} -> '
                f"{rule.stash_to_plex.replacement!r}; plex {rule.plex_to_stash.pattern.pattern!r} -> "
                f"{rule.plex_to_stash.replacement!r}"
            )
