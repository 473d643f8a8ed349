"""``s2p demo``: s2p serving a built-in sample library over a loopback Stash
stand-in, so every route can be tried with curl before a real Stash exists."""

from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING, Any

from s2p.config import Settings, build_path_map
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn

if TYPE_CHECKING:
    from s2p.app.runtime import Runtime
    from s2p.app.server import BackgroundServer

log = logging.getLogger(__name__)

DEMO_API_KEY = "demo-api-key-not-secret"
STASH_ROOT = "/stash/library"
PLEX_ROOT = "/plex/library"


def start_standin(library: Library, *, api_key: str = "", host: str = "127.0.0.1", port: int = 0,
                  threads: int = 16, **options: Any) -> tuple[BackgroundServer, StashStandIn]:
    """Serve a library as a stand-in Stash; returns (server, stand-in)."""
    from s2p.app.server import BackgroundServer

    standin = StashStandIn(library, api_key=api_key, **options)
    server = BackgroundServer.for_app(standin, host=host, port=port, threads=threads).start()
    library.base_url = server.url
    return server, standin


def demo_settings(stash_url: str, *, host: str, port: int, state_dir: str) -> Settings:
    from s2p.common.network import lan_address

    # Image URLs name the demo's own address: nobody reaches it through
    # images.plex.tv, so the public-URL advice of a real deployment is moot.
    shown = (lan_address() or "127.0.0.1") if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    settings = Settings.model_validate({
        "server": {"host": host, "port": port},
        "provider": {"public_url": f"http://{shown}:{port}" if port else ""},
        "stash": {"url": stash_url, "api_key": DEMO_API_KEY},
        "paths": [{
            "name": "demo",
            "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
            "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"],
            "examples": [f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"],
        }],
        "state": {"dir": state_dir},
        "debug": {"enabled": True},
    })
    assert not build_path_map(settings.paths).round_trip_problems()
    return settings


def _poster_url(library: Library, base: str, state_dir: str) -> str:
    """The signed poster URL of sample scene 1, as s2p hands it to Plex."""
    from s2p.artwork.links import RouteImageLinks
    from s2p.artwork.signing import ImageSigner
    from s2p.stash.models import Scene

    links = RouteImageLinks(base, ImageSigner.from_state_dir(state_dir))
    return links.scene(Scene.model_validate(library.find_scene("1")), "poster") or ""


# What a first Plex scan of the sample library would leave in the gap report
# (docs/gaps.md): a file name two scenes share, and files Stash does not know.
SCAN = (
    ("extras/scene.mp4", "ambiguous: two scenes have this file name"),
    ("Downloads/holiday clip.mp4", "no match: not in Stash"),
    ("Unsorted/clip 0458.mp4", "no match: not in Stash"),
)


def run(host: str = "127.0.0.1", port: int = 8008) -> int:
    """Serve the sample library until Ctrl-C.  Raises ``StartupError`` when
    the address cannot be listened on (nothing is left running)."""
    from s2p.app.server import serve

    library = sample(STASH_ROOT)
    server, _ = start_standin(library, api_key=DEMO_API_KEY)
    try:
        state = tempfile.mkdtemp(prefix="s2p-demo-")
        settings = demo_settings(server.url, host=host, port=port, state_dir=state)

        def announce(settings: Settings, runtime: Runtime, bound_port: int) -> None:
            log.info("demo: a stand-in Stash with %d sample scenes answers at %s", len(library.scenes), server.url)
            shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            shown = f"[{shown}]" if ":" in shown else shown
            base = f"http://{shown}:{bound_port}"
            log.info("demo: s2p listening on %s; register this URL in Plex to try it there: %s/", host, base)
            _scan(runtime)
            print(routes(base, _poster_url(library, settings.provider.public_url or base, state)), flush=True)

        return serve(settings, announcer=announce)
    finally:
        server.stop()


def _scan(runtime: Runtime) -> None:
    """Match the files of ``SCAN`` as Plex's scan would, so that ``/gaps`` has records to show."""
    from s2p.common.deadline import Deadline
    from s2p.match.query import MatchQuery

    for filename, _ in SCAN:
        outcome = runtime.matches.explain(MatchQuery(kind=1, filename=f"{PLEX_ROOT}/{filename}"), Deadline(10))
        for observe in runtime.observers.match:
            observe(outcome)
    runtime.gaps.store.flush()


def routes(base: str, poster_url: str) -> str:
    """What the demo prints: every route a person can open, as curl commands."""
    match = f"curl -s -X POST {base}/library/metadata/matches -H 'Content-Type: application/json'"
    tv_match = f"curl -s -X POST {base}/tv/library/metadata/matches -H 'Content-Type: application/json'"
    return "\n".join([
        "",
        "s2p demo: try these while it runs (Ctrl-C stops it)",
        "  # the provider Plex registers: its name, types and features",
        f"  curl -s {base}/",
        "  # match a file as Plex's scan does, then Fix Match (every candidate)",
        f"  {match} \\\n       -d '{{\"type\": 1, \"filename\": \"Harbour Films/extras/scene.mp4\"}}'",
        f"  {match} \\\n       -d '{{\"type\": 1, \"title\": \"beach day\", \"manual\": 1}}'",
        "  # a scene's metadata, and the pictures Plex may choose from",
        f"  curl -s {base}/library/metadata/1",
        f"  curl -s {base}/library/metadata/1/images",
        f"  curl -s -o poster.png '{poster_url}'",
        "  # the same library as TV (register <URL>/tv for a TV Shows library): a show per studio,",
        "  # matched by name, its seasons (years), its episodes three at a time, one matched by its file",
        f"  curl -s {base}/tv",
        f"  {tv_match} \\\n       -d '{{\"type\": 2, \"title\": \"Harbour Films\"}}'",
        f"  curl -s {base}/tv/library/metadata/show-1/children",
        f"  curl -s '{base}/tv/library/metadata/show-1/grandchildren?X-Plex-Container-Size=3'",
        f"  {tv_match} \\\n       -d '{{\"type\": 4, \"filename\": "
        "\"Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4\"}'",
        "  # why a file matched (or did not)",
        f"  curl -s '{base}/debug/match?filename=Harbour%20Films/extras/scene.mp4'",
        "  # what Plex and Stash disagree about (open in a browser), and as JSON",
        f"  {base}/gaps",
        f"  curl -s {base}/gaps.json",
        "  # health, Prometheus metrics, and the description of every route",
        f"  curl -s {base}/healthz",
        f"  curl -s {base}/metrics",
        f"  curl -s {base}/openapi.json",
        "",
    ])
