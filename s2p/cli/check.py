"""``s2p check``: the configuration, the path rules, Stash and (when set) Plex, in words."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from s2p import __version__
from s2p.config import Settings, mask

if TYPE_CHECKING:
    from s2p.artwork.shape import PosterShaper


def run(settings: Settings, path: Path | None, source: str | None = None) -> int:
    """``source``: the configuration in words (which file and why), else the path alone."""
    from s2p.app.announce import in_container, pictures, provider_url, stash_plugin_line
    from s2p.app.runtime import build_core
    from s2p.artwork.shape import PosterShaper
    from s2p.stash.errors import StashError

    out = sys.stdout
    print(f"s2p {__version__}: checking {source or path or 'defaults and S2P_* environment variables'}", file=out)
    print(f"  provider: {settings.provider.identifier} ({settings.provider.title})", file=out)
    print(f"  stash: {settings.stash.url}, API key {mask(settings.stash.api_key.get_secret_value())}", file=out)
    print(f"  state: {settings.state_dir}", file=out)
    for line in access_summary(settings):
        print(f"  access: {line}", file=out)
    if not in_container():  # in a container, s2p cannot know the address Stash reaches it at
        print(f"  {stash_plugin_line(settings, provider_url(settings, settings.server.port))}", file=out)
    else:
        print("  Stash plugin: add <s2p's address>/stash-plugin/index.yml in Stash > Settings > Plugins > "
              "Available Plugins (docs/stash-plugin.md)", file=out)
    services = build_core(settings, with_index=False)
    try:
        print(f"  artwork: {_artwork_summary(settings, PosterShaper(settings.artwork.poster))}", file=out)
        shown, line = pictures(settings)
        print(f"  {line}" if shown else f"  WARNING {line}", file=out)
        for line in services.path_map.describe():
            print(f"  paths: {line}", file=out)
        examples = sum(len(r.examples) for r in services.path_map.rules)
        print(f"  paths: {examples} example(s) survive the Stash -> Plex -> Stash round trip", file=out)
        try:
            version = services.stash_version()
        except StashError as exc:
            print(f"  stash: NOT reachable: {exc}", file=out)
            print("FAILED: s2p cannot reach Stash", file=out)
            if path is None and "S2P_STASH_URL" not in os.environ:
                print("No configuration was given, so s2p looked for Stash at its default address. "
                      "Run `s2p init` to write one with you (it asks for Stash and Plex and proposes path "
                      "rules), or point at yours with --config PATH or S2P_CONFIG.", file=out)
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


def _artwork_summary(settings: Settings, shaper: PosterShaper) -> str:
    text = f"posters {shaper.mode}"
    if shaper.wanted != shaper.mode:
        text += f" (not {shaper.wanted}: Pillow is missing; .venv/bin/pip install '.[artwork]')"
    return text


def access_summary(settings: Settings) -> list[str]:
    """Who may call, in words; the secret root shown masked."""
    server = settings.server
    lines = [
        f"Plex routes from {', '.join(server.allow) or 'nowhere'} ([server] allow)",
        f"/healthz, /metrics and other operator pages from {', '.join(server.ops_allow) or 'nowhere'} "
        "([server] ops_allow)",
        "/images from anywhere (Plex fetches artwork through images.plex.tv)",
        f"/stash-plugin from {', '.join(dict.fromkeys([*server.allow, *server.ops_allow])) or 'nowhere'} "
        "([server] allow or "
        "ops_allow; its api/ routes also want the plugin's token)",
    ]
    if server.trusted_proxies:
        lines.append(f"X-Forwarded-For believed from {', '.join(server.trusted_proxies)}")
    if server.secret:
        lines.append(f"provider root /{mask(server.secret)}/ ([server] secret; other paths answer 404)")
    if server.plex_clients:
        lines.append(f"only Plex servers {', '.join(server.plex_clients)} ([server] plex_clients)")
    return lines


def check_plex(settings: Settings, out: TextIO) -> bool:
    from s2p.pms.connect import connect
    from s2p.pms.register import ProviderCheck, report_plex
    from s2p.app.announce import register_url

    default_url = register_url(settings, settings.server.port)
    checks = [ProviderCheck(settings.provider.identifier, default_url)]
    if settings.tv.enabled:
        checks.append(ProviderCheck(settings.tv_identifier, default_url and f"{default_url.rstrip('/')}/tv",
                                    "show", "the TV provider", "s2p register --tv"))
    return report_plex(lambda: connect(settings.plex, settings.state_dir), checks, settings.plex.url,
                       host_address(), out)


def host_address() -> str | None:
    """This machine's LAN address to suggest, unless it is a container's own."""
    from s2p.app.announce import in_container, lan_address

    return None if in_container() else lan_address()
