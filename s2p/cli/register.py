"""``s2p register``: add s2p to Plex as a metadata provider and make its agent."""

from __future__ import annotations

import argparse
import sys

from s2p.cli.check import host_address
from s2p.config import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    from s2p.pms.connect import connect
    from s2p.pms.register import SetupError, check_url, run_register
    from s2p.app.announce import register_url

    if not settings.plex.url or not settings.plex.token.get_secret_value():
        print("s2p register: set [plex] url and [plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN) first; "
              "the token: Plex Web > any item > Get Info > View XML, the X-Plex-Token in the address", file=sys.stderr)
        return 2
    if args.url:
        try:
            url = check_url(args.url)
        except SetupError as exc:
            print(f"s2p register: {exc}", file=sys.stderr)
            return 2
    else:
        default = register_url(settings, settings.server.port)
        if default is None:
            print("s2p register: s2p runs in a container, whose own address changes when it is re-created and "
                  "is not reachable from outside Docker. Fix: give the URL Plex should use with --url: "
                  "http://<s2p's service or container name>:8008/ when Plex is on the same Docker network, else "
                  "http://<the host's LAN address>:<published port>/ (docs/plex-setup.md, \"Which URL to "
                  "register\").", file=sys.stderr)
            return 2
        url = default
    kinds = ["movie", "tv"] if getattr(args, "all", False) else ["tv"] if getattr(args, "tv", False) else ["movie"]
    if "tv" in kinds and not settings.tv.enabled:
        print("s2p register: the TV provider is off ([tv] enabled = false); turn it on first", file=sys.stderr)
        return 2
    worst = 0
    for kind in kinds:
        tv = kind == "tv"
        where = f"{url.rstrip('/')}/tv" if tv else url
        identifier = settings.tv_identifier if tv else settings.provider.identifier
        title = (args.agent and (f"{args.agent} (TV)" if len(kinds) > 1 else args.agent)) or (
            settings.tv.title if tv else settings.provider.title)
        print(f"s2p register: {where} in Plex at {settings.plex.url}" + (" (the TV provider)" if tv else ""))
        worst = max(worst, run_register(lambda: connect(settings.plex, settings.state_dir), identifier, where, title,
                                        settings.plex.url, host_address(), sys.stdout, tv=tv))
    return worst
