"""``s2p init``: a configuration written with the user.

It asks for Stash (and optionally Plex), checks each as it goes, samples
files on both sides, proposes the path rules that pair them (both
directions, with real files as examples, checked by the round trip and by
how many sampled files they pair) and writes a commented ``s2p.toml``.
Every question has an option, so it runs unattended too (``--yes``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, TextIO

from pydantic import SecretStr

from s2p.config import PlexSettings, StashSettings, config_search, mask
from s2p.paths.propose import Pairing, path_map_of, pairs_found, propose

if TYPE_CHECKING:
    from s2p.cli import _Commands

DEFAULT_STASH = "http://localhost:9999"
SAMPLE = 500  # scenes sampled from Stash; Plex: up to this many items per library
TIMEOUT = 15.0
SECTION_KINDS = {"movie": "movies", "show": "TV shows"}  # Plex section type: what its items are


def add_parser(commands: _Commands) -> None:
    init = commands.add_parser("init", help="write s2p.toml with you: checks Stash and Plex, proposes path rules")
    init.add_argument("--example", action="store_true", help="print the example configuration (every key) and stop")
    init.add_argument("--stash-url", help=f"Stash's address (default $S2P_STASH_URL, else {DEFAULT_STASH})")
    init.add_argument("--stash-api-key", help="Stash's API key (default $S2P_STASH_API_KEY)")
    init.add_argument("--plex-url", help="Plex's address, e.g. http://192.168.1.10:32400 (default $S2P_PLEX_URL)")
    init.add_argument("--plex-token", help="a Plex token (default $S2P_PLEX_TOKEN)")
    init.add_argument("--output", default="s2p.toml", help="the file to write (default s2p.toml)")
    init.add_argument("--force", action="store_true", help="replace the output file if it exists")
    init.add_argument("--yes", action="store_true", help="ask nothing: take the options and the environment")


def example_text() -> str:
    return resources.files("s2p").joinpath("s2p.toml.example").read_text(encoding="utf-8")


@dataclass
class Found:
    """What init learnt about both sides."""

    stash_url: str = ""
    stash_key: str = ""
    stash_version: str = ""
    stash_roots: list[str] = field(default_factory=list)
    stash_files: list[str] = field(default_factory=list)
    plex_url: str = ""
    plex_token: str = ""
    plex_sections: list[tuple[str, list[str], list[str]]] = field(default_factory=list)  # (title, locations, files)
    pairing: Pairing | None = None

    @property
    def plex_files(self) -> list[str]:
        return [f for _, _, files in self.plex_sections for f in files]


class Asker:
    """Questions on a terminal; with ``--yes`` (or no terminal) every answer is the default."""

    def __init__(self, interactive: bool, read: Callable[[str], str] = input,
                 read_secret: Callable[[str], str] = getpass.getpass):
        self.interactive = interactive
        self._read = read
        self._read_secret = read_secret

    def ask(self, question: str, default: str = "", *, secret: bool = False) -> str:
        if not self.interactive:
            return default
        shown = (mask(default) if secret else default) if default else ""
        prompt = f"{question}{f' [{shown}]' if shown else ''}: "
        answer = (self._read_secret(prompt) if secret else self._read(prompt)).strip()
        return answer or default

    def confirm(self, question: str, default: bool) -> bool:
        if not self.interactive:
            return default
        answer = self._read(f"{question} [{'Y/n' if default else 'y/N'}]: ").strip().lower()
        return default if not answer else answer.startswith("y")


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None, out: TextIO | None = None,
        asker: Asker | None = None) -> int:
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    if args.example:
        out.write(example_text())
        return 0
    asker = asker or Asker(not args.yes and sys.stdin.isatty())
    output = Path(args.output)
    if output.exists() and not args.force and not asker.confirm(f"{output} exists. Replace it?", False):
        print(f"s2p init: {output} exists and was left as it is. Fix: --output another file, or --force.",
              file=sys.stderr)
        return 1
    found = Found()
    if not _stash(found, args, environ, asker, out):
        return 1
    if not _plex(found, args, environ, asker, out):
        return 1
    found.pairing = propose(found.stash_files, found.plex_files, stash_roots=found.stash_roots,
                            plex_roots=[loc for _, locations, _ in found.plex_sections for loc in locations])
    ok = _report(found, out)
    if not ok and not asker.confirm("Write the configuration anyway?", True):
        return 1
    _write(output, render(found))
    holds = "the Stash API key" + (" and Plex token" if found.plex_token else "")
    print(f"\nWrote {output} (readable only by you: it holds {holds}).", file=out)
    found_by_serve = where_serve_finds(output, environ)
    if found_by_serve:
        print(f"s2p {found_by_serve} finds it without --config.", file=out)
    option = "" if found_by_serve else f" --config {output}"
    print("Next:", file=out)
    print(f"  s2p check{option}     # checks Stash, Plex and the path rules", file=out)
    print(f"  s2p serve{option}     # then register the URL it prints in Plex", file=out)
    if found.plex_token:
        print(f"  s2p register{option}  # or let s2p register itself and make its agent", file=out)
    return 0 if ok else 1


def where_serve_finds(output: Path, environ: Mapping[str, str]) -> str:
    """When s2p without --config loads ``output``: "run from this folder",
    "run from anywhere", or "" (it must be named)."""
    if environ.get("S2P_CONFIG"):
        return "run with this $S2P_CONFIG" if Path(environ["S2P_CONFIG"]).resolve() == output.resolve() else ""
    cwd_file, user_file = config_search(environ)
    if output.resolve() == user_file.resolve():
        return "run from anywhere" if not cwd_file.is_file() or cwd_file.resolve() == output.resolve() else ""
    if output.resolve() == cwd_file.resolve():
        return "run from this folder"
    return ""


# ---------------------------------------------------------------- Stash

def _stash(found: Found, args: argparse.Namespace, environ: Mapping[str, str], asker: Asker, out: TextIO) -> bool:
    from s2p.stash.api import StashAPI
    from s2p.stash.client import StashClient
    from s2p.stash.errors import StashError

    url = with_scheme(args.stash_url or environ.get("S2P_STASH_URL") or DEFAULT_STASH)
    key = args.stash_api_key if args.stash_api_key is not None else environ.get("S2P_STASH_API_KEY", "")
    for attempt in range(3):
        url = with_scheme(asker.ask("Stash URL", url))
        key = asker.ask("Stash API key (Stash > Settings > Security; empty if Stash has no login)", key, secret=True)
        try:
            settings = StashSettings(url=url, api_key=SecretStr(key), timeout=TIMEOUT, retries=1)
        except ValueError as exc:
            print(f"  Stash: {_first_error(exc)}", file=out)
            if not asker.interactive:
                return _fail(f"--stash-url {url!r} is not usable: {_first_error(exc)}")
            continue
        client = StashClient(settings)
        try:
            api = StashAPI(client)
            version = api.version()
            found.stash_url, found.stash_key = url, key
            found.stash_version = version.version or "unknown version"
            print(f"  Stash {found.stash_version} answers at {url}", file=out)
            try:
                found.stash_roots = api.library_folders()
                print(f"  Stash scans: {', '.join(found.stash_roots) or '(no library folders)'}", file=out)
            except StashError as exc:  # needs a key with full rights; the files alone will do
                print(f"  Stash's library folders could not be read ({exc}); proposing from file paths alone",
                      file=out)
            found.stash_files = api.sample_files(SAMPLE)
            print(f"  Stash: {len(found.stash_files)} file(s) sampled", file=out)
            return True
        except StashError as exc:
            print(f"  Stash: {exc}", file=out)
            if not asker.interactive:
                problem = str(exc).rstrip(".")
                fix = "" if "Fix:" in problem else ". Fix: check --stash-url and --stash-api-key"
                return _fail(f"Stash at {url} cannot be used: {problem}{fix}")
        finally:
            client.close()
    return _fail("Stash could not be reached. Fix: check its address and API key, then run s2p init again")


# ---------------------------------------------------------------- Plex

TOKEN_HELP = ("the token of Plex's owner: in Plex Web open any item > ... > Get Info > View XML; "
              "the address of the page that opens ends in X-Plex-Token=<the token>")
PLEX_TRIES = 3


def _plex(found: Found, args: argparse.Namespace, environ: Mapping[str, str], asker: Asker,
          out: TextIO) -> bool:
    """Ask for Plex and sample its libraries; False when Plex was given and
    cannot be used (the caller stops: a file without [plex] or path rules
    is not what the user asked for)."""
    from s2p.pms.connect import PlexError

    url = with_scheme(args.plex_url or environ.get("S2P_PLEX_URL", ""))
    token = args.plex_token if args.plex_token is not None else environ.get("S2P_PLEX_TOKEN", "")
    if not asker.interactive and not url and not token:
        print("  Plex: skipped; s2p takes Plex and Stash to see the same paths until you add rules", file=out)
        return True
    for _attempt in range(PLEX_TRIES):
        # What was typed stays the default: Enter tries it again, "-" skips Plex.
        url = with_scheme(asker.ask('Plex URL, e.g. http://192.168.1.10:32400 ("-" or empty: skip Plex)', url))
        if url in ("", "-"):
            print("  Plex: skipped; s2p takes Plex and Stash to see the same paths until you add rules", file=out)
            return True
        if not asker.interactive and not token:
            return _fail("--plex-url is given but no Plex token. Fix: add --plex-token (S2P_PLEX_TOKEN), "
                         f"{TOKEN_HELP}")
        token = asker.ask(f"Plex token ({TOKEN_HELP})", token, secret=True)
        try:
            _sample_plex(found, url, token, out)
            return True
        except (PlexError, ValueError) as exc:
            problem = _first_error(exc) if isinstance(exc, ValueError) else str(exc)
            print(f"  Plex: {problem}", file=out)
            if not asker.interactive:
                fix = "" if "Fix:" in problem else (" Fix: check --plex-url and that Plex is running, and "
                                                    "--plex-token; or leave both out to write a file without Plex")
                return _fail(f"Plex at {url} cannot be used: {problem.rstrip('.')}.{fix}")
    return _fail("Plex could not be used. Fix: check its address, that it runs, and the token, then run "
                 "s2p init again (or answer - to skip Plex)")


def _sample_plex(found: Found, url: str, token: str, out: TextIO) -> None:
    from s2p.pms.library import PlexLibrary

    settings = PlexSettings(url=url, token=SecretStr(token), timeout=TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="s2p-init-") as state:
        library = PlexLibrary(settings, state, page_size=min(SAMPLE, 200))
        # A TV Shows library lists its episodes' files: its paths need the same rules.
        sections = [s for s in library.sections() if s.type in SECTION_KINDS]
        sampled = []
        for section in sections:
            files: list[str] = []
            for page in library.items(section):
                files += [part.file for item in page for part in item.parts]
                if len(files) >= SAMPLE:
                    break
            sampled.append((section.title, list(section.locations), files[:SAMPLE]))
            print(f"  Plex library {section.title!r} ({SECTION_KINDS[section.type]}): "
                  f"{', '.join(section.locations)}; "
                  f"{len(files[:SAMPLE])} file(s) sampled", file=out)
    if not sections:
        print("  Plex has no Movies or TV Shows library yet: make one (Plex Web > + next to Libraries), then "
              "run s2p init again to have path rules proposed", file=out)
    found.plex_sections = sampled
    found.plex_url, found.plex_token = url, token


# ---------------------------------------------------------------- the proposal

def _report(found: Found, out: TextIO) -> bool:
    """Show the proposed rules and how they pair the samples; False when they leave doubt."""
    pairing = found.pairing
    assert pairing is not None
    if not found.plex_files:
        print("\nPath rules: none proposed (no Plex files to compare). With no rules, s2p takes Plex and Stash "
              "to see the same paths; the written file shows how to add a rule.", file=out)
        return True
    print(f"\nPath rules, from {len(found.stash_files)} Stash and {pairing.plex_sampled} Plex file(s):", file=out)
    path_map = path_map_of(pairing.proposals)
    for proposal in pairing.proposals:
        if proposal.identity:
            print(f"  {proposal.plex_root}: the same path on both sides ({proposal.paired} file(s)); no rule needed",
                  file=out)
            continue
        print(f"  Stash {proposal.stash_root}  <->  Plex {proposal.plex_root}   ({proposal.paired} file(s) paired)",
              file=out)
        for stash_path, _ in proposal.examples[:2]:
            there = path_map.to_plex(stash_path)
            back = path_map.to_stash(there.path) if there else None
            print(f"    {stash_path} -> {there.path if there else '?'} -> {back.path if back else '?'}", file=out)
    problems = path_map.round_trip_problems()
    for title, _, files in found.plex_sections:
        paired = pairs_found(path_map, found.stash_files, files)
        if paired:
            print(f"  Library {title!r}: the rules find the Stash file of {paired} of {len(files)} sampled "
                  "file(s).", file=out)
        else:
            print(f"  Library {title!r}: none of its {len(files)} sampled file(s) is in Stash's sample "
                  "(not a Stash library, or not scanned yet).", file=out)
    if pairing.ambiguous:
        print(f"  {pairing.ambiguous} file(s) fit more than one folder and were not counted.", file=out)
    for problem in problems:
        print(f"  PROBLEM: {problem}", file=out)
    if not pairing.proposals:
        print("  No Plex file was found in Stash's sample: are these the same library? The rules are left for "
              "you to write (docs/configuration.md).", file=out)
        return False
    return not problems


def render(found: Found) -> str:
    """The configuration file: commented, loadable as it is."""
    lines = [
        f"# s2p configuration, written by `s2p init` on {date.today().isoformat()}.",
        "# Every key, with its default: `s2p init --example`.  Any key can also be set from the",
        "# environment as S2P_<SECTION>_<KEY>, which wins over this file.",
        "",
        "[server]",
        "# Plex must reach this address; 0.0.0.0 listens on every interface of this machine.",
        'host = "0.0.0.0"',
        "port = 8008",
        "",
        "[stash]",
        f"# Stash {found.stash_version} answered here when this file was written.",
        f"url = {_toml(found.stash_url)}",
        f"api_key = {_toml(found.stash_key)}",
        "",
    ]
    if found.plex_url:
        sections = "; ".join(f"{title!r}: {', '.join(locs)}" for title, locs, _ in found.plex_sections) or "none yet"
        lines += [
            "[plex]",
            f"# Movie libraries seen: {sections}.",
            "# Used for the gap report, s2p register and (optionally) artwork upload.",
            f"url = {_toml(found.plex_url)}",
            f"token = {_toml(found.plex_token)}",
            "",
        ]
    lines += ["# Path rules: how one file is named by Stash and by Plex.  Each example must",
              "# come back unchanged from Stash -> Plex -> Stash (checked at start-up)."]
    pairing = found.pairing
    rules = [p for p in pairing.proposals if not p.identity] if pairing else []
    if pairing and found.plex_files:
        lines.append(f"# Proposed from {len(found.stash_files)} Stash and {pairing.plex_sampled} Plex sampled "
                     f"file(s); they pair {pairs_found(path_map_of(rules), found.stash_files, found.plex_files)}.")
    if not rules:
        lines += [
            "# None are needed while Plex and Stash see the same paths.  When they differ, add one:",
            "#",
            "# [[paths]]",
            '# name = "nas"',
            '# stash_to_plex = ["^/volume1/adult/(.*)$", "/data/adult/\\\\1"]',
            '# plex_to_stash = ["^/data/adult/(.*)$", "/volume1/adult/\\\\1"]',
            '# examples = ["/volume1/adult/Studio/2023-05-12 - Scene.mp4"]',
        ]
    names: set[str] = set()
    for proposal in rules:
        name = _rule_name(proposal.stash_root, names)
        rule = proposal.rule(name)
        lines += [
            "",
            "[[paths]]",
            f"# Stash {proposal.stash_root} is Plex {proposal.plex_root} ({proposal.paired} sampled file(s)).",
            *(["# Plex names these files Windows-style (e.g. " + proposal.examples[0][1] + "); s2p's rules",
               "# see such paths with / separators and without the drive letter."]
              if proposal.examples and re.match(r"^[A-Za-z]:|.*\\", proposal.examples[0][1]) else []),
            f"name = {_toml(name)}",
            f"stash_to_plex = [{_toml(rule['stash_to_plex'][0])}, {_toml(rule['stash_to_plex'][1])}]",
            f"plex_to_stash = [{_toml(rule['plex_to_stash'][0])}, {_toml(rule['plex_to_stash'][1])}]",
            f"examples = [{', '.join(_toml(e) for e in rule['examples'])}]",
        ]
    lines += ["", "# Where s2p keeps its small state (image signing key, gap records): by default a",
              "# folder of this file's own under ~/.local/state/s2p/, or $STATE_DIRECTORY under systemd",
              "# (`s2p check` says which).  To choose:",
              "# [state]", '# dir = "/var/lib/s2p"', ""]
    return "\n".join(lines)


def _rule_name(root: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", root.strip("/").rsplit("/", 1)[-1]).strip("-").lower() or "library"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _toml(value: str) -> str:
    """A TOML basic string (JSON's string escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _write(path: Path, text: str) -> None:
    """Written whole or not at all, readable only by its owner (it holds secrets)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(partial, path)


def with_scheme(url: str) -> str:
    """``127.0.0.1:9999`` as ``http://127.0.0.1:9999``: what a person means by an address without a scheme."""
    url = url.strip()
    if url and url != "-" and "://" not in url:
        return f"http://{url}"
    return url


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    return str(exc)


def _fail(message: str) -> bool:
    print(f"s2p init: {message}", file=sys.stderr)
    return False
