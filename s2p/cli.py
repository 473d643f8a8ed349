"""The command line: ``s2p [--config PATH] [serve|check|match|gaps|register|demo|version]``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from . import __version__, logs
from .config import ConfigError, Settings, config_path, load_settings, mask
from .gaps import command as gaps_command

log = logging.getLogger("s2p")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2p", description="A Plex metadata provider that answers from Stash.")
    parser.add_argument("--config", metavar="PATH", help="TOML configuration file (default: $S2P_CONFIG)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    gaps_command.add_parser(commands)
    demo = commands.add_parser("demo", help="serve a built-in sample library (no Stash needed)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8008, help="port to listen on (default 8008)")
    commands.add_parser("version", help="print the version")
    register = commands.add_parser("register", help="register s2p in Plex and make its agent ([plex] url and token)")
    register.add_argument("--url", help="the URL Plex should call (default: the one s2p logs at start-up)")
    register.add_argument("--agent", metavar="NAME", help="the agent's name in Plex (default: [provider] title)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "version":
        print(f"s2p {__version__} ({origin()})")
        return 0
    if command == "demo":
        logs.configure("INFO", "text", background=True)
        from .demo import run

        return run(args.host, args.port)
    path = config_path(args.config, os.environ)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"s2p: the configuration{f' in {path}' if path else ''} has problems; nothing was started:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    logs.configure(settings.log.level, settings.log.format, settings.secrets(), background=command == "serve")
    if command == "serve":
        from .server import serve
        from .state import StateDirError

        log.info("configuration: %s", path or "defaults and S2P_* environment variables")
        try:
            return serve(settings)
        except StateDirError as exc:
            print(f"s2p: {exc}; nothing was started", file=sys.stderr)
            return 2
    if command == "check":
        return check(settings, path)
    if command == "match":
        return match(settings, args)
    if command == "gaps":
        return gaps_command.run(settings, args)
    if command == "register":
        return register(settings, args)
    raise AssertionError(command)


def origin() -> str:
    """Where this s2p runs from: the archive when inside s2p.pyz, else the package."""
    package = Path(__file__).resolve().parent
    for candidate in package.parents:
        if candidate.is_file():  # app/s2p/cli.py inside <archive>
            return str(candidate)
    return str(package)


def check(settings: Settings, path) -> int:
    from .runtime import Services
    from .stash.errors import StashError

    out = sys.stdout
    print(f"s2p {__version__}: checking {path or 'defaults and S2P_* environment variables'}", file=out)
    print(f"  provider: {settings.provider.identifier} ({settings.provider.title})", file=out)
    print(f"  stash: {settings.stash.url}, API key {mask(settings.stash.api_key.get_secret_value())}", file=out)
    for line in access_summary(settings):
        print(f"  access: {line}", file=out)
    services = Services(settings, uploads=False)
    try:
        print(f"  artwork: {_artwork_summary(settings, services)}", file=out)
        for line in services.path_map.describe():
            print(f"  paths: {line}", file=out)
        examples = sum(len(r.examples) for r in services.path_map.rules)
        print(f"  paths: {examples} example(s) survive the Stash -> Plex -> Stash round trip", file=out)
        try:
            version = services.stash_version()
        except StashError as exc:
            print(f"  stash: NOT reachable: {exc}", file=out)
            print("FAILED: s2p cannot reach Stash", file=out)
            return 1
        print(f"  stash: reachable, version {version.version or 'unknown'}, status {version.status or 'unknown'}",
              file=out)
        if version.status not in (None, "OK"):
            print(f"FAILED: Stash reports status {version.status}", file=out)
            return 1
        if settings.plex.url and not check_plex(settings, out):
            print("FAILED: see the plex lines above", file=out)
            return 1
        print("OK", file=out)
        return 0
    finally:
        services.stop()


def _artwork_summary(settings: Settings, services) -> str:
    public = settings.provider.public_url
    text = (f"image URLs on {public}" if public else
            "image URLs on the address Plex calls (Plex 1.43.5+ refuses LAN addresses; see the README)")
    shaper = services.images.shaper
    text += f"; posters {shaper.mode}"
    if shaper.wanted != shaper.mode:
        text += f" (not {shaper.wanted}: Pillow is missing; pip install 's2p[artwork]')"
    return text + f"; upload into Plex {'on' if settings.artwork.push else 'off'}"


def access_summary(settings: Settings) -> list[str]:
    """Who may call, in words; the secret root shown masked."""
    server = settings.server
    lines = [
        f"Plex routes from {', '.join(server.allow) or 'nowhere'} ([server] allow)",
        f"/healthz, /metrics and other operator pages from {', '.join(server.ops_allow) or 'nowhere'} "
        "([server] ops_allow)",
        "/images from anywhere (Plex fetches artwork through images.plex.tv)",
    ]
    if server.trusted_proxies:
        lines.append(f"X-Forwarded-For believed from {', '.join(server.trusted_proxies)}")
    if server.secret:
        lines.append(f"provider root /{mask(server.secret)}/ ([server] secret; other paths answer 404)")
    if server.plex_clients:
        lines.append(f"only Plex servers {', '.join(server.plex_clients)} ([server] plex_clients)")
    return lines


def check_plex(settings: Settings, out) -> bool:
    from .plexconn import connect
    from .registration import report_plex
    from .server import in_container, provider_url

    default_url = None if in_container() else provider_url(settings, settings.server.port)
    return report_plex(lambda: connect(settings.plex, settings.state_dir), settings.provider.identifier,
                       default_url, settings.plex.url, host_address(), out)


def host_address() -> str | None:
    """This machine's LAN address to suggest, unless it is a container's own."""
    from .server import in_container, lan_address

    return None if in_container() else lan_address()


def register(settings: Settings, args: argparse.Namespace) -> int:
    from .plexconn import connect
    from .registration import SetupError, check_url, run_register
    from .server import in_container, provider_url

    if not settings.plex.url or not settings.plex.token.get_secret_value():
        print("s2p register: set [plex] url and [plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN) first; "
              "the README says where to find the token", file=sys.stderr)
        return 2
    if args.url:
        try:
            url = check_url(args.url)
        except SetupError as exc:
            print(f"s2p register: {exc}", file=sys.stderr)
            return 2
    elif in_container():
        print("s2p register: s2p runs in a container, whose own address changes when it is re-created and "
              "is not reachable from outside Docker. Give the URL Plex should use with --url: "
              "http://<s2p's service or container name>:8008/ when Plex is on the same Docker network, else "
              "http://<the host's LAN address>:<published port>/ (see the README, \"Which URL to register\").",
              file=sys.stderr)
        return 2
    else:
        url = provider_url(settings, settings.server.port)
    print(f"s2p register: {url} in Plex at {settings.plex.url}")
    return run_register(lambda: connect(settings.plex, settings.state_dir), settings.provider.identifier, url,
                        args.agent or settings.provider.title, settings.plex.url, host_address(), sys.stdout)


def match(settings: Settings, args: argparse.Namespace) -> int:
    """Explain one match with the server's cascade and scoring.

    By default the candidates come from direct Stash queries (a few, for one
    file) rather than the scene index, which takes seconds to load on a big
    library; ``--index`` loads it first and matches exactly as the server does.
    """
    from .deadline import Deadline
    from .matching import Matcher
    from .plex.hints import MatchHints
    from .runtime import Services
    from .stash.errors import StashError

    try:
        hints = MatchHints.model_validate({
            "filename": args.filename, "title": args.title, "year": args.year, "guid": args.guid,
            "ohash": args.ohash, "manual": args.manual, "type": 1,
        })
    except Exception as exc:  # pydantic's ValidationError
        raise SystemExit(f"s2p match: invalid hints: {exc}") from None
    if not hints.has_anything:
        raise SystemExit("s2p match: give at least --filename, --title, --guid or --ohash")
    services = Services(settings, uploads=False)
    try:
        matcher = services.matcher
        if args.index and services.index is not None:
            print("loading the scene index...", file=sys.stderr, flush=True)
            try:
                services.index.load()
            except StashError as exc:
                print(f"s2p match: the scene index could not be loaded: {exc}", file=sys.stderr)
                return 2
            stats = services.index.stats()
            print(f"  {stats['scenes']} scenes, {stats['files']} files in {stats['build_seconds']:.1f}s",
                  file=sys.stderr)
        else:
            matcher = Matcher(services.stash_source, services.path_map, settings.match,
                              settings.provider.identifier, services.local_files)
        outcome = matcher.match(hints, Deadline(settings.server.request_budget))
    finally:
        services.stop()
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_outcome(outcome)
    return 0 if outcome.decision else 1


def print_outcome(outcome) -> None:
    print(f"source: {outcome.source}")
    print("steps:")
    for step, text in outcome.steps:
        print(f"  - {step}: {text}")
    if outcome.translated:
        print(f"translated path: {outcome.translated}")
    if outcome.candidates:
        print("candidates (best first):")
        for c in outcome.candidates:
            title = c.scene.title or "(no title)"
            print(f"  {c.score:3d}  scene {c.scene.id:>6}  {title}  [{c.step}] {c.reason}")
    else:
        print("candidates: none")
    if outcome.decision:
        print(f"decision: scene {outcome.decision.scene.id} (score {outcome.decision.score}, by {outcome.decision.step})")
    else:
        print(f"decision: no automatic match: {outcome.reason}")
