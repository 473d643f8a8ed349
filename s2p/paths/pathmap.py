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

# Paths longer than this are never given to a rule, whatever the setting
# ([match] rule_path_limit, 1024 by default, is the limit a PathMap applies).
MAX_PATH_LENGTH = 4096
DEFAULT_PATH_LIMIT = 1024


class RuleError(ValueError):
    """A path rule that cannot be used; the message says which and why, ``fix`` how to mend it."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


def check_regex_safety(pattern: str) -> None:
    """Refuse patterns whose matching time can explode.

    Python's ``re`` backtracks and has no timeout; while it runs it holds the
    GIL, so one slow match stops every request.  Three shapes take time that
    grows exponentially or as a high power of the path's length on a near
    miss, and are refused when the configuration is loaded instead of
    freezing a request later:

    * a repeat inside a repeat: ``(a+)+``, ``(.*)*``, ``(\\w+\\s?)*``;
    * a repeated group that can match the same text in two ways:
      ``(?:.|\\s)*`` (a space is either), ``(a|aa)*``, ``(a?a)*``, ``(.|\\s){0,40}``;
    * three or more unbounded repeats in a row that can take the same
      characters: ``(.*)/(.*)/(.*)``.

    What is left takes at most about the square of the path's length, which
    ``PathMap``'s length limit bounds (``bench/regex_worst_case.py``).
    """
    try:
        tree = _sre_parse.parse(pattern)
    except re.error as exc:
        raise RuleError(f"not a valid regular expression: {exc}") from None
    if _has_nested_repeat(tree, inside_unbounded=False):
        raise RuleError(
            "a repeated group contains another unbounded repeat (like '(a+)+' or '(.*)*'): on a path "
            "that almost matches, such a pattern takes exponential time",
            "rewrite it without the nested repeat: '(.*)' for any text, '([^/]*)' for one folder")
    if not _unambiguous(tree.state, list(tree), frozenset(), strict=False):
        raise RuleError(
            "a repeated group can match the same text in more than one way (like '(?:.|\\s)*', where a "
            "space is either, '(a|aa)*' or '(a?a)*'): on a path that almost matches, such a pattern takes "
            "exponential time (doubling with each character)",
            "make the choices inside the repeat exclusive, or drop the group: '(.*)' already takes "
            "spaces, '([^/]*)' takes one folder")
    if _overlapping_repeats(tree) > MAX_OVERLAPPING_REPEATS:
        raise RuleError(
            "three or more unbounded repeats in a row can take the same characters (like "
            "'(.*)/(.*)/(.*)', or '(.*)/(.*)' without a leading '^'): on a long path such a pattern "
            "takes minutes",
            "anchor it with '^' and match single path segments with '([^/]*)'")


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


_SINGLE = {_sre_constants.LITERAL, _sre_constants.NOT_LITERAL, _sre_constants.ANY, _sre_constants.IN,
           _sre_constants.CATEGORY}
_VARIABLE_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}


def _first(state: Any, items: list[Any]) -> tuple[frozenset[str], bool]:
    """The probe characters a match of ``items`` can start with, and whether
    it can match nothing at all."""
    first: set[str] = set()
    for op, av in items:
        if op in _SINGLE:
            return frozenset(first | _accepts(state, [(op, av)])), False
        if op == _sre_constants.AT or op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            continue  # zero width
        if op == _sre_constants.SUBPATTERN:
            found, empty = _first(state, av[-1])
        elif op in _REPEATS:
            found, empty = _first(state, av[2])
            empty = empty or av[0] == 0
        elif _ATOMIC is not None and op == _ATOMIC:
            found, empty = _first(state, av)
        elif op == _sre_constants.BRANCH:
            found, empty = frozenset(), False
            for branch in av[1]:
                branch_first, branch_empty = _first(state, branch)
                found, empty = found | branch_first, empty or branch_empty
        else:  # a back-reference, a conditional: anything
            return _ALL, True
        first |= found
        if not empty:
            return frozenset(first), False
    return frozenset(first), True


def _unambiguous(state: Any, items: list[Any], after: frozenset[str], strict: bool) -> bool:
    """Whether every repeated part of ``items`` matches a text in one way only.

    ``after``: the characters that can follow ``items``.  ``strict``: the
    items sit inside a repeated group, so each choice in them (an
    alternative, one more round of an inner repeat) must be settled by the
    next character alone; a choice that is not lets a near miss try every
    combination of choices, two per character.  Outside repeated groups a
    choice costs at most a constant factor, and is let be.
    """
    for op, av in reversed(items):
        if op in _SINGLE:
            after = _accepts(state, [(op, av)])
        elif op == _sre_constants.AT:
            continue
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            if not _unambiguous(state, av[1], _ALL, strict):
                return False
        elif op == _sre_constants.SUBPATTERN:
            if not _unambiguous(state, av[-1], after, strict):
                return False
            first, empty = _first(state, av[-1])
            after = first | after if empty else first
        elif op in _VARIABLE_REPEATS:
            lo, hi, body = av
            first, empty = _first(state, body)
            if strict and lo != hi and (empty or first & after):
                return False  # one more round or what follows: the next character cannot tell
            follow = first | after if hi > 1 else after
            if not _unambiguous(state, body, follow, strict or hi > 1):
                return False
            after = first | after if (lo == 0 or empty) else first
        elif op == _sre_constants.BRANCH:
            firsts = []
            for branch in av[1]:
                if not _unambiguous(state, branch, after, strict):
                    return False
                first, empty = _first(state, branch)
                firsts.append(first | after if empty else first)
            if strict and any(a & b for i, a in enumerate(firsts) for b in firsts[i + 1:]):
                return False  # two alternatives can start alike
            after = frozenset().union(*firsts)
        elif op in _REPEATS or (_ATOMIC is not None and op == _ATOMIC):
            # Possessive and atomic parts never give back what they took: no choice to try again.
            body = av[2] if op in _REPEATS else av
            first, empty = _first(state, body)
            after = first | after if empty or (op in _REPEATS and av[0] == 0) else first
        else:  # back-references and conditionals: their width is not known here
            if strict:
                return False
            after = _ALL
    return True


def _chars(state: Any, items: list[Any]) -> frozenset[str]:
    """Every probe character any part of ``items`` can take."""
    found: set[str] = set()
    for op, av in items:
        if op in _SINGLE:
            found |= _accepts(state, [(op, av)])
        elif op == _sre_constants.SUBPATTERN:
            found |= _chars(state, av[-1])
        elif op in _REPEATS:
            found |= _chars(state, av[2])
        elif _ATOMIC is not None and op == _ATOMIC:
            found |= _chars(state, av)
        elif op == _sre_constants.BRANCH:
            for branch in av[1]:
                found |= _chars(state, branch)
        elif op not in _ZERO_WIDTH:
            return _ALL
    return frozenset(found)


def _has_unbounded(items: list[Any]) -> bool:
    for op, av in items:
        if op in _REPEATS and (av[1] == _sre_constants.MAXREPEAT or _has_unbounded(av[2])):
            return True
        if op == _sre_constants.SUBPATTERN and _has_unbounded(av[-1]):
            return True
        if op == _sre_constants.BRANCH and any(_has_unbounded(b) for b in av[1]):
            return True
        if _ATOMIC is not None and op == _ATOMIC and _has_unbounded(av):
            return True
    return False


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
    state = tree.state
    for op, av in tree:
        if op in _ZERO_WIDTH:
            out.append(("skip", frozenset(), 0))
        elif op in _ONE_CHAR:
            out.append(("one", _accepts(state, [(op, av)]), 1))
        elif op == _sre_constants.SUBPATTERN:
            out.extend(_sequence(_sre_parse.SubPattern(state, av[-1])))
        elif op in (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT):
            lo, hi, body = av
            if hi == 1:  # an optional or single group: its repeats count, its required characters may not be there
                inner = _sequence(_sre_parse.SubPattern(state, body))
                out.extend(inner if lo else [(k, a, 0) if k == "repeat" else ("skip", frozenset(), 0)
                                             for k, a, _m in inner])
            elif hi == _sre_constants.MAXREPEAT:
                out.append(("repeat", _chars(state, body), lo))
            elif lo == 0:
                out.append(("skip", frozenset(), 0))
            else:
                out.append(("one", _chars(state, body), 1))
        elif op == _sre_constants.BRANCH or op in _REPEATS or (_ATOMIC is not None and op == _ATOMIC):
            # Alternatives, possessive and atomic parts: a repeat in them counts
            # as one, else they take characters as a required one does (or may
            # take none: then they do not break a run).
            body = [(op, av)]
            chars = _chars(state, body)
            _first_chars, empty = _first(state, body)
            if _has_unbounded(body):
                out.append(("repeat", chars, 0))
            else:
                out.append(("skip", frozenset(), 0) if empty else ("one", chars, 1))
        else:  # back-references, conditionals
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

    def __init__(self, rules: Sequence[PathRule] = (), max_length: int = DEFAULT_PATH_LIMIT):
        self.rules: tuple[PathRule, ...] = tuple(rules)
        # What a rule may cost per call: the rules check_regex_safety lets
        # through take at most about the square of the path's length, so a
        # bound on the length bounds the time (bench/regex_worst_case.py).
        self.max_length = min(max_length, MAX_PATH_LENGTH)

    def to_plex(self, stash_path: str) -> Translation | None:
        return self._translate(stash_path, "stash_to_plex")

    def to_stash(self, plex_path: str) -> Translation | None:
        return self._translate(plex_path, "plex_to_stash")

    def _translate(self, path: str, direction: str) -> Translation | None:
        if len(path) > self.max_length:
            log.debug("%s: a path of %d characters is not translated (the limit is [match] rule_path_limit = %d)",
                      direction, len(path), self.max_length)
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
