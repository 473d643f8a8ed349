"""The Stash plugin's parts, built from the server's services."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from s2p import __version__
from s2p.ops.logs import Redactor
from s2p.pms.connect import connect
from s2p.pms.items import PlexItems
from s2p.stashplugin.package import PluginSource, Stamps
from s2p.stashplugin.service import PluginService
from s2p.stashplugin.token import PluginToken

if TYPE_CHECKING:
    from s2p.app.services import Services

SYNC_JOB = "sync"  # the scheduler's name for live sync's cycle (services._enable_sync)


@dataclass
class StashPlugin:
    service: PluginService
    source: PluginSource
    token: PluginToken


def build_stash_plugin(services: Services) -> StashPlugin:
    settings = services.settings
    token = PluginToken(settings.state_dir)
    plex = settings.plex
    connection: dict[str, PlexItems] = {}
    lock = threading.Lock()

    def items() -> PlexItems:
        # One connection for the server's life, made on first use (again after a failure).
        with lock:
            if "items" not in connection:
                connection["items"] = PlexItems(
                    connect(plex, settings.state_dir), settings.provider.identifier, plex.sections,
                    tv_identifier=settings.tv_identifier if settings.tv.enabled else None)
            return connection["items"]

    def start_sync() -> None:
        if SYNC_JOB in services.scheduler.status():
            services.scheduler.trigger(SYNC_JOB)

    service = PluginService(
        scenes=services.scenes, gaps=services.gaps, path_map=services.path_map, matcher=services.matcher,
        plex=items if plex.url and plex.token.get_secret_value() else None, sync=services.sync,
        start_sync=start_sync, reachable=services.stash_reachable, version=__version__,
        redact=Redactor(settings.secrets()))
    source = PluginSource(__version__, lambda: token.value, Stamps(settings.state_dir))
    return StashPlugin(service, source, token)
