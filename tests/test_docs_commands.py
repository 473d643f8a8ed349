"""Every shell command in README.md and docs/ runs as pasted.

The commands are taken from the pages themselves: fenced ``sh`` blocks, and
code spans that start like a command (``s2p …``, ``python3 …``,
``.venv/bin/…``).  Addresses and keys in them are placeholders for the
reader's own, so they are swapped for the fakes' here (Stash, Plex, a running
s2p).  What needs a real Plex or Stash runs against tests/fakestash.py and
tests/fakeplex.py; what would run for ever (``s2p serve``, ``s2p demo``), install
software or touch the system (docker, systemctl, pip) is checked without
running it: the command parses, the files it names exist in the checkout (or
are what an earlier documented command produces), the options it passes
exist.  A command this test does not know how to check fails it, so a new
kind of command in the docs gets a rule here.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import requests

from fakeplex import TOKEN, FakePlex
from helpers import API_KEY, PLEX_ROOT, STASH_ROOT

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
# A code span outside the fenced blocks is a command when it starts like one.
INLINE = re.compile(r"^(?:S2P_\w+=\S+ )?(?:s2p|python3?|\.venv/bin/\S+|pipx|pip|curl|docker|sudo|sha256sum|uname|ldd|"
                    r"journalctl|systemctl|systemd-analyze|mkdir|cp)(?: |$)")
# Files the documented commands make, and the command that makes each.
PRODUCED = {"dist/s2p.pyz": "python3 build_zipapp.py", "s2p.toml": "s2p init"}
# Long-running commands: parsed, not run (the end-to-end test in test_firstday.py runs `s2p`).
SERVING = {None, "serve", "demo"}
# What each s2p command may exit with when it ran as intended (gaps and match say "found some" with 1).
EXPECTED = {"gaps": {0, 1}, "match": {0, 1}}
# Placeholders for option values the reader fills in.
VALUES = {"--year": "2023", "--season": "2023", "--episode": "1", "--date": "2023-05-12",
          "--filename": "Studio/scene.mp4", "--ohash": "0123456789abcdef"}
# Option values written as a word in capitals (``--all-of KIND``).
NAMED = {"--all-of": "no_match", "--kind": "no_match", "--url": "http://192.168.1.20:8008/", "--config": "s2p.toml",
         "--agent": "Stash", "--platform": "manylinux2014_x86_64"}
# Commands of the archive's own start-up code (bundle/bootstrap.py), before s2p's command line.
ARCHIVE_ONLY = {"prepare"}


@dataclass(frozen=True)
class Command:
    where: str  # page:line
    text: str  # as written


def extract(pages: list[Path] = PAGES) -> list[Command]:
    """Every command on the pages, once each (the first place it appears)."""
    found: dict[str, Command] = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            if block.group(1) not in SHELL:
                continue
            first = text[:block.start(2)].count("\n") + 1
            joined = block.group(2).replace("\\\n", " ")
            for offset, line in enumerate(joined.splitlines()):
                if line.strip():
                    found.setdefault(line.strip(), Command(f"{name}:{first + offset}", line.strip()))
        prose = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)
        for span in re.finditer(r"`([^`]+)`", prose):
            command = " ".join(span.group(1).split())  # a span may wrap across lines
            if INLINE.match(command) and (" " in command or command == "s2p"):
                line = prose[:span.start()].count("\n") + 1
                found.setdefault(command, Command(f"{name}:{line}", command))
    return list(found.values())


def substitute(text: str, places: dict[str, str]) -> str:
    """The command with the reader's placeholders filled in."""
    text = re.sub(r"\[(--[^\]]*)\]", r"\1", text)  # [--optional things]
    text = text.replace("[command]", "version")
    text = re.sub(r"(--[\w-]+) (?:…|\.\.\.)", lambda m: f"{m.group(1)} {VALUES.get(m.group(1), 'x')}", text)
    text = re.sub(r"(--[\w-]+) ([A-Z]+)\b", lambda m: f"{m.group(1)} {NAMED.get(m.group(1), m.group(2))}", text)
    for placeholder, value in places.items():
        text = text.replace(placeholder, value)
    return text.replace("…", "x")


def split(text: str) -> list[list[str]]:
    """Shell words (comments dropped), one list per command of an ``a && b`` line."""
    words = shlex.split(text, comments=True)
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


# ---------------------------------------------------------------- checks


@dataclass
class Bench:
    """Where the commands run: a folder with s2p.toml, the fakes, a running s2p."""

    folder: Path
    env: dict[str, str]
    places: dict[str, str]
    s2p_url: str = ""
    ran: list[str] = field(default_factory=list)  # commands actually run, for the final count
    made: set[str] = field(default_factory=set)  # files made by documented commands (cp)


def s2p_args(argv: list[str]) -> list[str] | None:
    """The arguments of an s2p command, however it is started; None when it is not s2p."""
    if argv[0] in ("s2p", ".venv/bin/s2p"):
        return argv[1:]
    if argv[0] in ("python3", "python", ".venv/bin/python"):
        rest = [a for a in argv[1:3] if a != "-I"] + argv[3:]  # -I: isolated, as the image runs it
        if rest and rest[0].endswith(".pyz"):
            return rest[1:]
    return None


def parse_s2p(args: list[str]) -> argparse.Namespace:
    from s2p.cli import build_parser

    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"s2p does not take {shlex.join(args)!r} (argparse exit {exc.code})") from None


def check_s2p(argv: list[str], bench: Bench | None, stdout: Path | None, extra_env: dict[str, str]) -> None:
    args = s2p_args(argv)
    assert args is not None
    archive = next((a for a in argv[1:3] if a.endswith(".pyz")), None)
    if archive and bench is not None:
        # The archive is the same command line; it must be where the docs put it.
        assert archive in bench.made or (ROOT / archive).exists() or archive == "s2p.pyz", f"no {archive} here"
    if "--help" in args or "--version" in args or (archive and args in ([a] for a in ARCHIVE_ONLY)):
        return
    parsed = parse_s2p(args)
    command = parsed.command
    if command in SERVING or bench is None:
        return
    env = {**bench.env, **extra_env}
    folder = bench.folder
    if command == "init" and not parsed.example:
        folder = bench.folder / f"init-{len(bench.ran)}"  # a new user's empty folder
        folder.mkdir()
    elif command == "init":
        folder = bench.folder / f"example-{len(bench.ran)}"
        folder.mkdir()
    target = folder / stdout if stdout else None
    with open(target or os.devnull, "w") as sink:
        result = subprocess.run([sys.executable, "-m", "s2p", *args], cwd=folder, env=env, timeout=120,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if target is None else sink,
                                stderr=subprocess.PIPE, text=True)
    bench.ran.append(shlex.join(argv))
    output = (result.stdout or "") + result.stderr
    assert "Traceback" not in output and "usage:" not in output, output[-2000:]
    assert result.returncode in EXPECTED.get(command, {0}), f"exit {result.returncode}: {output[-2000:]}"
    if command == "init" and target is not None:
        from s2p.config import load_settings

        load_settings(target, {"HOME": str(bench.folder)})  # what it wrote is a configuration s2p loads


def check_script(argv: list[str], bench: Bench | None) -> None:
    """``python3 script.py --options``: the script is in the checkout, takes --help with the interpreter the
    docs name (python3 has nothing installed; .venv/bin/python has s2p), and knows every option given."""
    script = ROOT / argv[1]
    assert script.is_file(), f"{argv[1]} is not in the checkout"
    if argv[0] == ".venv/bin/python":
        python, env = sys.executable, None
    else:
        python = shutil.which("python3") or sys.executable
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if Path(sys.executable).parent != Path(p))
    result = subprocess.run([python, str(script), "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, f"{argv[0]} {argv[1]} --help: {result.stderr[-1500:]}"
    for option in (word.split("=")[0] for word in argv[2:] if word.startswith("--")):
        assert re.search(rf"{re.escape(option)}\b", result.stdout), f"{argv[1]} has no option {option}"
    if bench is not None:
        bench.ran.append(f"{argv[0]} {argv[1]} --help")


def check_python(argv: list[str], bench: Bench | None) -> None:
    if argv[1:3] == ["-m", "venv"]:
        return  # the standard library's
    if argv[1] in ("-c", "--version"):
        result = subprocess.run(["python3" if shutil.which("python3") else sys.executable, *argv[1:]],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return
    check_script(argv, bench)


def check_install(argv: list[str], bench: Bench | None) -> None:
    """pip/pipx install of the checkout: the extras named exist."""
    assert argv[1] == "install", argv
    spec = next(a for a in argv[2:] if not a.startswith("-"))
    assert spec.startswith("."), f"installs {spec!r}, not the checkout"
    extras = re.findall(r"[\w-]+", spec[spec.find("[") + 1:spec.find("]")]) if "[" in spec else []
    known = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert set(extras) <= set(known), f"no extra {set(extras) - set(known)} in pyproject.toml"


def check_files(paths: list[str], bench: Bench | None) -> None:
    for path in paths:
        assert (ROOT / path).exists() or path in PRODUCED, f"{path} is neither in the checkout nor made by " \
                                                            "a documented command"


def check_cp(argv: list[str], bench: Bench | None) -> None:
    *sources, target = [a for a in argv[1:] if not a.startswith("-")]
    check_files(sources, bench)
    if bench is not None and target.startswith(str(bench.folder)):
        for source in sources:
            made = Path(target) / Path(source).name
            if Path(source).name == "s2p.toml":
                shutil.copy(bench.folder / "s2p.toml", made)
            else:
                made.write_bytes(b"")  # stands for the archive: the s2p commands after it run s2p itself
            bench.made.add(str(made))


def check_install_file(argv: list[str], bench: Bench | None) -> None:
    """``install [-D] [-m MODE] SOURCE TARGET``: the source exists (nothing is installed)."""
    words = [a for i, a in enumerate(argv[1:], 1) if not a.startswith("-") and argv[i - 1] != "-m"]
    check_files(words[:-1], bench)


def check_sudo(argv: list[str], bench: Bench | None) -> None:
    check_argv(argv[1:], bench, None)


def check_docker(argv: list[str], bench: Bench | None) -> None:
    if argv[1] == "build":
        assert (ROOT / "Dockerfile").is_file() and argv[-1] == "."
    elif argv[1:3] == ["compose", "exec"]:
        # docker compose exec SERVICE COMMAND…: the compose file's service, and s2p's command line inside.
        compose = (ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8")
        assert re.search(rf"^  {re.escape(argv[3])}:", compose, re.M), f"no service {argv[3]} in the compose file"
        inner = argv[4:]
        assert s2p_args(inner) is not None, f"runs {inner[0]}, not s2p"
        assert any("/opt/s2p/s2p.pyz" in line for line in (ROOT / "Dockerfile").read_text().splitlines()), \
            "the image has no /opt/s2p/s2p.pyz"
        parse_s2p(s2p_args(inner))
    else:
        assert argv[1] == "run" and argv[-1] == "s2p", "runs the image docker build tags"


def check_curl(argv: list[str], bench: Bench | None) -> None:
    url = next(a for a in argv[1:] if a.startswith("http"))
    if bench is None:
        return
    response = requests.get(url, timeout=30)
    bench.ran.append(shlex.join(argv))
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"


def check_harmless(argv: list[str], bench: Bench | None) -> None:
    """uname, ldd: run when this machine has them (musl's ldd --version exits 1: only the output counts)."""
    if shutil.which(argv[0]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert (result.stdout + result.stderr).strip(), f"{shlex.join(argv)} said nothing"


def check_mkdir(argv: list[str], bench: Bench | None) -> None:
    if bench is not None:
        targets = [a for a in argv[1:] if not a.startswith("-")]
        assert all(t.startswith(str(bench.folder)) for t in targets), "mkdir outside the test's folder"
        subprocess.run(argv, check=True, timeout=30)


def system_service(argv: list[str], bench: Bench | None) -> None:
    """systemctl, journalctl, systemd-analyze: about the machine's services, never run here."""


CHECKS: dict[str, Callable[[list[str], Bench | None], None]] = {
    "python3": check_python, "python": check_python, ".venv/bin/python": check_python,
    ".venv/bin/pip": check_install, "pip": check_install, "pipx": check_install,
    ".venv/bin/pytest": lambda argv, bench: None,  # the suite running this test
    "cp": check_cp, "install": check_install_file, "sudo": check_sudo, "docker": check_docker,
    "curl": check_curl, "uname": check_harmless, "ldd": check_harmless, "mkdir": check_mkdir,
    "sha256sum": lambda argv, bench: check_files(argv[1:], bench),
    "systemctl": system_service, "journalctl": system_service, "systemd-analyze": system_service,
}


def check_argv(argv: list[str], bench: Bench | None, where: str | None) -> None:
    extra_env = {}
    while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):  # VAR=value before the command
        name, _, value = argv[0].partition("=")
        extra_env[name] = str(bench.folder / value) if bench is not None and value.endswith(".toml") else value
        argv = argv[1:]
    stdout = None
    if ">" in argv:
        at = argv.index(">")
        argv, stdout = argv[:at], Path(argv[at + 1])
    if s2p_args(argv) is not None:
        check_s2p(argv, bench, stdout, extra_env)
        return
    check = CHECKS.get(argv[0])
    assert check is not None, f"no rule for {argv[0]!r} in tests/test_docs_commands.py: add one"
    check(argv, bench)


def check_all(commands: list[Command], bench: Bench | None, places: dict[str, str]) -> list[str]:
    problems = []
    for command in commands:
        try:
            for argv in split(substitute(command.text, places)):
                check_argv(argv, bench, command.where)
        except AssertionError as exc:
            problems.append(f"{command.where}: `{command.text}`: {exc}")
    return problems


# ---------------------------------------------------------------- tests


STATIC_PLACES = {"$KEY": API_KEY, "$TOKEN": TOKEN}


def test_the_pages_hold_the_commands_a_user_pastes():
    texts = [c.text for c in extract()]
    for expected in ("s2p init", "s2p check", "s2p", "s2p register", "python3 build_zipapp.py        # -> "
                     "dist/s2p.pyz, for the machine it runs on"):
        assert expected in texts
    assert any(t.startswith(".venv/bin/python bench/") for t in texts)


def test_every_command_parses_and_names_what_exists():
    """Without sockets: each s2p command parses, each file and script exists, each option is known."""
    problems = check_all(extract(), None, STATIC_PLACES)
    assert problems == [], "\n".join(problems)


def test_a_stale_command_or_path_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Run `s2p frobnicate`, then\n\n```sh\ncp s2p.pyz /srv/\n.venv/bin/python bench/gone.py\n"
                    "s2p gaps --no-such-option\n.venv/bin/python bench/rescan.py --no-such-option\n"
                    "python3 bench/regex_worst_case.py\nfrobnicate --now\n```\n", encoding="utf-8")
    commands = extract([page])
    assert len(commands) == 7
    problems = check_all(commands, None, STATIC_PLACES)
    # Each one: an s2p command that is gone, a file the build does not make, a script that is gone, an option
    # that is gone (s2p's and a script's), a script that needs the virtualenv, a command with no rule.
    assert len(problems) == 7, "\n".join(problems)


@pytest.mark.integration
def test_every_command_runs_as_pasted(tmp_path, fake_stash, library, start_s2p):
    from s2p.config import DEFAULT_IDENTIFIER

    plex = FakePlex()
    plex.add_section(1, "Scenes", [PLEX_ROOT], agent=DEFAULT_IDENTIFIER)
    for scene_id, record in sorted(library.scenes.items()):
        plex.add_item(1, record["title"] or scene_id, [f["path"].replace(STASH_ROOT, PLEX_ROOT, 1)
                                                       for f in record["files"]])
    plex.start()
    try:
        running = start_s2p(fake_stash.url, debug={"capture": 10})
        folder = tmp_path / "work"
        folder.mkdir()
        port = running.url.rsplit(":", 1)[1]
        (folder / "s2p.toml").write_text(f'''
[server]
host = "127.0.0.1"
port = {port}

[stash]
url = "{fake_stash.url}"
api_key = "{API_KEY}"

[plex]
url = "{plex.url}"
token = "{TOKEN}"
timeout = 5

[state]
dir = "{folder / 'state'}"

[[paths]]
name = "library"
stash_to_plex = ["^{STASH_ROOT}/(.*)$", "{PLEX_ROOT}/\\\\1"]
plex_to_stash = ["^{PLEX_ROOT}/(.*)$", "{STASH_ROOT}/\\\\1"]
''', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("S2P_", "XDG_"))}
        env.update(HOME=str(tmp_path / "home"), S2P_STASH_URL=fake_stash.url, S2P_STASH_API_KEY=API_KEY,
                   S2P_PLEX_URL=plex.url, S2P_PLEX_TOKEN=TOKEN)  # what `s2p init` reads when nothing is typed
        places = {**STATIC_PLACES, "http://192.168.1.10:9999": fake_stash.url,
                  "http://192.168.1.10:32400": plex.url, "http://192.168.1.20:8008": running.url,
                  "http://127.0.0.1:8008": running.url, "/volume1/": f"{folder}/volume1/"}
        bench = Bench(folder, env, places, running.url)
        problems = check_all(extract(), bench, places)
        assert problems == [], "\n".join(problems)
        # Not a check that checked nothing: the s2p commands and the request ran.
        assert any(r.startswith("s2p register") for r in bench.ran) and any(r.startswith("curl") for r in bench.ran)
        assert any(r.startswith("s2p init") for r in bench.ran) and any("s2p.pyz" in r for r in bench.ran)
        assert plex.providers, "s2p register registered s2p in the fake Plex"
    finally:
        plex.stop()
