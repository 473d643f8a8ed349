"""The Stash plugin's parts, built from the server's components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from s2p import __version__
from s2p.common.deadline import Deadline
from s2p.config import Settings
from s2p.gaps.service import GapService
from s2p.match.cascade import MatchOutcome
from s2p.match.query import MatchQuery
from s2p.ops.logs import Redactor
from s2p.ops.scheduler import Scheduler
from s2p.paths.pathmap import PathMap
from s2p.pms.libraries import PlexLibraries
from s2p.scenes.store import SceneStore
from s2p.stashplugin.package import PluginSource, Stamps
from s2p.stashplugin.service import PluginService
from s2p.stashplugin.token import PluginToken
from s2p.sync.service import SyncService

SYNC_JOB = "sync"  # the scheduler's name for live sync's cycle (runtime.build)


@dataclass(frozen=True)
class StashPlugin:
    service: PluginService
    source: PluginSource
    token: PluginToken


def build_stash_plugin(settings: Settings, *, scenes: SceneStore, gaps: GapService, path_map: PathMap,
                       explain: Callable[[MatchQuery, Deadline], MatchOutcome], sync: SyncService | None,
                       scheduler: Scheduler, reachable: Callable[[], tuple[bool, str]]) -> StashPlugin:
    token = PluginToken(settings.state_dir)
    plex = settings.plex
    # Plex's libraries, listed afresh on a schedule and after a failure, as live sync's are.
    libraries = PlexLibraries.from_settings(settings, user="the Stash plugin")

    def start_sync() -> None:
        if SYNC_JOB in scheduler.status():
            scheduler.trigger(SYNC_JOB)

    service = PluginService(
        scenes=scenes, gaps=gaps, path_map=path_map, explain=explain,
        plex=libraries.items if plex.url and plex.token.get_secret_value() else None, sync=sync,
        start_sync=start_sync, reachable=reachable, version=__version__, redact=Redactor(settings.secrets()))
    source = PluginSource(__version__, lambda: token.value, Stamps(settings.state_dir))
    return StashPlugin(service, source, token)
