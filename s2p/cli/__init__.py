"""The command line: ``s2p [--config PATH] [serve|init|check|match|gaps|tv-layout|sync|register|debug|demo|version]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from s2p import __version__
from s2p.ops import logs
from s2p.config import ConfigError, Settings, config_path, config_search, load_settings
from s2p.cli import gaps as gaps_command
from s2p.cli import debug as debug_command
from s2p.cli import init as init_command
from s2p.cli import sync as sync_command
from s2p.cli import tvlayout as tv_layout_command

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    # --config is taken before or after the command (s2p --config F serve,
    # s2p serve --config F): each subparser knows it too, and leaves the
    # value alone when it is not given there.  The parsers share the one
    # action, so its default must stay SUPPRESS (no set_defaults here).
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="TOML configuration file (default: $S2P_CONFIG, else ./s2p.toml, else "
                             "$XDG_CONFIG_HOME/s2p/s2p.toml)")
    parser = argparse.ArgumentParser(prog="s2p", description="A Plex metadata provider that answers from Stash.",
                                     parents=[config])
    parser.add_argument("--version", action="version", version=f"s2p {__version__}")
    commands = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), config)
    commands.add_parser("serve", help="run the provider (the default)")
    commands.add_parser("check", help="check the configuration, the path rules and that Stash answers")
    match = commands.add_parser("match", help="show how a file would be matched, and why")
    match.add_argument("--filename", help="the file as Plex names it (relative or absolute)")
    match.add_argument("--title", help="the title hint")
    match.add_argument("--year", type=int, help="the year hint")
    match.add_argument("--guid", help="a guid hint")
    match.add_argument("--ohash", help="an oshash hint (16 hex digits)")
    match.add_argument("--manual", action="store_true", help="list every candidate, as Fix Match does")
    match.add_argument("--json", action="store_true", help="print the explanation as JSON")
    match.add_argument("--index", action="store_true",
                       help="load the whole scene index first, as the server does (slower on big libraries)")
    match.add_argument("--tv", action="store_true",
                       help="match as the TV provider does: an episode (with --filename), a show or a season")
    match.add_argument("--type", choices=["show", "season", "episode"], help="with --tv: what to match "
                       "(default: episode with --filename, else show)")
    match.add_argument("--show", help="with --tv: the show's title (a studio's name)")
    match.add_argument("--date", help="with --tv: the episode's air date, YYYY-MM-DD")
    match.add_argument("--season", type=int, help="with --tv: the season (a year; 0 for undated scenes)")
    match.add_argument("--episode", type=int, help="with --tv: the episode number")
    gaps_command.add_parser(commands)
    tv_layout_command.add_parser(commands)
    demo = commands.add_parser("demo", help="serve a built-in sample library (no Stash needed)")
    demo.add_argument("--host", help="address to listen on (default $S2P_SERVER_HOST, else 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port to listen on (default $S2P_SERVER_PORT, else 8008)")
    init_command.add_parser(commands)
    debug_command.add_parser(commands)
    sync_command.add_parser(commands)
    commands.add_parser("version", help="print the version")
    register = commands.add_parser("register", help="register s2p in Plex and make its agent ([plex] url and token)")
    register.add_argument("--url", help="the URL Plex should call (default: the one s2p logs at start-up)")
    register.add_argument("--agent", metavar="NAME", help="the agent's name in Plex (default: [provider] title)")
    which = register.add_mutually_exclusive_group()
    which.add_argument("--tv", action="store_true", help="register the TV provider (<url>/tv) for TV Shows libraries")
    which.add_argument("--all", action="store_true", help="register both the movie and the TV provider")
    return parser


class _Commands:
    """``add_subparsers`` whose every command also takes ``--config``."""

    def __init__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                 config: argparse.ArgumentParser) -> None:
        self._subparsers = subparsers
        self._config = config

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self._subparsers.add_parser(name, parents=[self._config], **kwargs)


EXIT_PIPE = 141  # what a shell reports for a tool stopped by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, where a reader gone is caught, not at the interpreter's exit
        return status
    except BrokenPipeError:
        # `s2p gaps --json | head -1`: the reader has gone; stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so that the interpreter's last flush does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "version":
        print(f"s2p {__version__} ({origin()})")
        return 0
    if command == "demo":
        return _demo(args.host, args.port, os.environ)
    if command == "init":
        logs.configure("WARNING", "text")
        return init_command.run(args)
    path = config_path(getattr(args, "config", None), os.environ)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"s2p: the configuration{f' in {path}' if path else ''} has problems; nothing was started:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    logs.configure(settings.log.level, settings.log.format, settings.secrets(), background=command == "serve")
    with logs.redacted_output(settings.secrets()):
        return _run(command, settings, path, args)


def _run(command: str, settings: Settings, path: Path | None, args: argparse.Namespace) -> int:
    """One command, with its settings loaded."""
    if command == "serve":
        from s2p.app.announce import announce
        from s2p.app.server import StartupError, serve
        from s2p.common.statedir import StateDirError, claim, release

        # The first line: which file this server runs on (a file found by
        # looking, not named, is the one surprise worth saying first).
        log.info("configuration: %s", describe_source(path, getattr(args, "config", None), os.environ))
        try:
            settings = keep_earlier_state(settings, path)
            claim(settings.state_dir, identity(path))
            try:
                return serve(settings, announcer=announce)
            finally:
                release(settings.state_dir)
        except (StartupError, StateDirError) as exc:
            return _not_started(exc)
    if command == "check":
        from s2p.cli import check

        return check.run(settings, path, describe_source(path, getattr(args, "config", None), os.environ))
    if command == "match":
        from s2p.cli import match

        return match.run(settings, args)
    if command == "gaps":
        return gaps_command.run(settings, args, identity(path))
    if command == "tv-layout":
        return tv_layout_command.run(settings, args)
    if command == "debug":
        return debug_command.run(settings, args)
    if command == "sync":
        return sync_command.run(settings, args)
    if command == "register":
        from s2p.cli import register

        return register.run(settings, args)
    raise AssertionError(command)


def keep_earlier_state(settings: Settings, path: Path | None) -> Settings:
    """``s2p serve`` of a file that ran before each file had its own state folder keeps its state (the image
    URLs stored in Plex depend on its key): it records itself as the shared folder's owner.  Only a server
    does this, so a one-off command of another file never takes a running server's state."""
    from s2p.common.statedir import write_atomically
    from s2p.config import EARLIER_OWNER, earlier_state

    base = earlier_state(settings.state_dir, path, os.environ)
    if base is None or path is None:
        return settings
    write_atomically(base / EARLIER_OWNER, (os.path.abspath(path) + "\n").encode("utf-8"))
    log.info("state: %s keeps the state directory it used before, %s (recorded in %s)", path, base,
             base / EARLIER_OWNER)
    return load_settings(path)


def identity(path: Path | None) -> str:
    """The configuration a state directory is used by, as its owner file records it."""
    return os.path.abspath(path) if path is not None else "defaults and S2P_* environment variables"


def describe_source(path: Path | None, explicit: str | None, environ: Mapping[str, str]) -> str:
    """Which configuration is in use, and why that one, in words."""
    if path is None:
        looked = " and ".join(str(p) for p in config_search(environ))
        return f"defaults and S2P_* environment variables (no --config, $S2P_CONFIG, {looked})"
    if explicit:
        return f"{path} (--config)"
    if environ.get("S2P_CONFIG"):
        return f"{path} ($S2P_CONFIG)"
    if environ.get("CREDENTIALS_DIRECTORY"):
        return f"{path} (systemd credential)"
    return f"{path} (found; name another with --config PATH)"


def _demo(host: str | None, port: int | None, environ: Mapping[str, str]) -> int:
    from s2p.app.server import StartupError
    from s2p.common.statedir import StateDirError
    from s2p.demo import run

    host = host or environ.get("S2P_SERVER_HOST") or "127.0.0.1"
    if port is None:
        text = environ.get("S2P_SERVER_PORT", "8008")
        try:
            port = int(text)
        except ValueError:
            print(f"s2p: S2P_SERVER_PORT={text!r} is not a port number. Fix: a number such as 8008, "
                  "or s2p demo --port 8008", file=sys.stderr)
            return 2
    logs.configure("INFO", "text", background=True)
    try:
        return run(host, port)
    except (StartupError, StateDirError) as exc:
        return _not_started(exc)


def _not_started(exc: Exception) -> int:
    print(f"s2p: {exc}; nothing was started", file=sys.stderr)
    return 2


def origin() -> str:
    """Where this s2p runs from: the archive when inside s2p.pyz, else the package."""
    package = Path(__file__).resolve().parent
    for candidate in package.parents:
        if candidate.is_file():  # app/s2p/cli.py inside <archive>
            return str(candidate)
    return str(package)
