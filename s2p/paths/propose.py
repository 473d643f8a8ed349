"""Proposing path rules from files both sides hold.  Pure.

Stash and Plex often see one library under different roots (Stash in a
container at ``/data/adult``, Plex on the NAS at ``/volume1/adult``, or on
Windows at ``D:\\adult``).  Given sample file paths from each side, files
that share a name and their trailing folders are paired; what stands in
front of the shared part is a pair of roots.  The root pairs most files
agree on become rules, in both directions, with real files as examples.

Plex paths are compared in their canonical form (``/`` separators, no
drive letter), which is also what s2p's rules see of a Windows path.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from s2p.paths.forms import split_components
from s2p.paths.pathmap import PathMap, PathRule, Rewrite

MAX_EXAMPLES = 3


@dataclass
class Proposal:
    """One root pair: ``stash_root`` in Stash is ``plex_root`` in Plex."""

    stash_root: str
    plex_root: str
    paired: int = 0  # sampled files paired through this root pair
    examples: list[tuple[str, str]] = field(default_factory=list)  # (Stash path, Plex path as Plex gave it)

    @property
    def identity(self) -> bool:
        return self.stash_root == self.plex_root

    def rule(self, name: str) -> dict:
        """The rule as ``[[paths]]`` in s2p.toml holds it."""
        stash, plex = self.stash_root.rstrip("/"), self.plex_root.rstrip("/")
        return {
            "name": name,
            "stash_to_plex": [f"^{re.escape(stash)}/(.*)$", f"{_literal(plex)}/\\1"],
            "plex_to_stash": [f"^{re.escape(plex)}/(.*)$", f"{_literal(stash)}/\\1"],
            "examples": [stash_path for stash_path, _ in self.examples],
        }


@dataclass
class Pairing:
    """What ``propose`` found: the rules, and how well they pair the samples."""

    proposals: list[Proposal]
    plex_sampled: int
    paired: int  # Plex files whose Stash file the proposals find
    unpaired: list[str]  # a few Plex files no Stash file was found for
    ambiguous: int  # Plex files whose name and folders fit several Stash roots

    @property
    def needs_rules(self) -> bool:
        return any(not p.identity for p in self.proposals)


def _literal(path: str) -> str:
    """A path as a regex replacement: backslashes doubled, so ``\\1`` stays the group."""
    return path.replace("\\", "\\\\")


def _join(parts: Sequence[str], absolute: bool = True) -> str:
    return ("/" if absolute else "") + "/".join(parts)


def _within(root: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    """``prefix`` is ``root`` or one of its parents."""
    return root[: len(prefix)] == prefix


def _pair(stash: tuple[str, ...], plex: tuple[str, ...], stash_roots: list[tuple[str, ...]],
          plex_roots: list[tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """(Stash prefix, Plex prefix, shared trailing components) of one file pair.

    The shared tail is as long as the paths agree, then handed back to the
    prefixes (``/volume1`` + ``adult/…`` becomes ``/volume1/adult`` +
    ``…``) while a prefix is still above its side's known root, so that a
    rule names the library folders, not their parents."""
    shared = 0
    while shared < min(len(stash), len(plex)) and stash[-1 - shared] == plex[-1 - shared]:
        shared += 1
    s_prefix, p_prefix = stash[: len(stash) - shared], plex[: len(plex) - shared]
    while shared > 1:
        s_root = next((r for r in stash_roots if _within(r, s_prefix) and _within(stash, r)), None)
        p_root = next((r for r in plex_roots if _within(r, p_prefix) and _within(plex, r)), None)
        below_s = s_root is not None and len(s_prefix) < len(s_root)
        below_p = p_root is not None and len(p_prefix) < len(p_root)
        if not (below_s or below_p):
            break
        s_prefix, p_prefix = stash[: len(s_prefix) + 1], plex[: len(p_prefix) + 1]
        shared -= 1
    return s_prefix, p_prefix, shared


def propose(stash_files: Iterable[str], plex_files: Iterable[str], *, stash_roots: Iterable[str] = (),
            plex_roots: Iterable[str] = ()) -> Pairing:
    """Root pairs that map the sampled Plex files onto the sampled Stash files.

    ``stash_roots`` (Stash's library folders) and ``plex_roots`` (the Plex
    sections' locations) are optional; with them the rules name those
    folders rather than their shared parents."""
    by_name: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for path in stash_files:
        parts = split_components(path)
        if parts:
            by_name[parts[-1].casefold()].append((path, parts))
    s_roots = sorted((split_components(r) for r in stash_roots), key=len, reverse=True)
    p_roots = sorted((split_components(r) for r in plex_roots), key=len, reverse=True)

    votes: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
    examples: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, str]]] = defaultdict(list)
    plex_list = list(plex_files)
    unpaired: list[str] = []
    ambiguous = 0
    for plex_path in plex_list:
        plex = split_components(plex_path)
        if not plex:
            continue
        found = []
        for stash_path, stash in by_name.get(plex[-1].casefold(), ()):
            s_prefix, p_prefix, shared = _pair(stash, plex, s_roots, p_roots)
            if shared:
                found.append((shared, s_prefix, p_prefix, stash_path))
        if not found:
            unpaired.append(plex_path)
            continue
        best = max(f[0] for f in found)
        top = {(f[1], f[2]) for f in found if f[0] == best}
        if len(top) > 1:
            ambiguous += 1  # the same name and folders under two roots: this file cannot tell which
            continue
        key = top.pop()
        votes[key] += 1
        if len(examples[key]) < MAX_EXAMPLES:
            examples[key].append((next(f[3] for f in found if f[0] == best), plex_path))

    # One Plex root per Stash root and one Stash root per Plex root: the
    # pair more files agree on wins (a rule each way must be a function).
    proposals: list[Proposal] = []
    taken_s: set[tuple[str, ...]] = set()
    taken_p: set[tuple[str, ...]] = set()
    for (s_prefix, p_prefix), count in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
        if s_prefix in taken_s or p_prefix in taken_p:
            continue
        taken_s.add(s_prefix)
        taken_p.add(p_prefix)
        proposals.append(Proposal(_join(s_prefix), _join(p_prefix), count, examples[(s_prefix, p_prefix)]))
    # Deeper roots first: a rule for /data/adult/vr must come before /data/adult.
    proposals.sort(key=lambda p: (-len(split_components(p.stash_root)), -p.paired, p.stash_root))
    paired = sum(p.paired for p in proposals)
    return Pairing(proposals, len(plex_list), paired, unpaired[:MAX_EXAMPLES], ambiguous)


def path_map_of(proposals: Sequence[Proposal]) -> PathMap:
    """The proposals as the PathMap s2p would run (identity pairs need no rule)."""
    rules = []
    for index, proposal in enumerate(p for p in proposals if not p.identity):
        rule = proposal.rule(f"rule{index + 1}")
        rules.append(PathRule(rule["name"], Rewrite.compile(*rule["stash_to_plex"]),
                              Rewrite.compile(*rule["plex_to_stash"]), tuple(rule["examples"])))
    return PathMap(rules)


def pairs_found(path_map: PathMap, stash_files: Iterable[str], plex_files: Iterable[str]) -> int:
    """How many Plex files the rules translate to a sampled Stash file (the check a user can read)."""
    known = {_join(split_components(p)) for p in stash_files}
    found = 0
    for plex_path in plex_files:
        translated = path_map.to_stash(plex_path) or path_map.to_stash(_join(split_components(plex_path)))
        target = translated.path if translated else plex_path
        found += _join(split_components(target)) in known
    return found
