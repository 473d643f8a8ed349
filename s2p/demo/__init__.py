"""``s2p demo``: s2p serving a built-in sample library over a loopback Stash
stand-in, so every route can be tried with curl before a real Stash exists."""

from __future__ import annotations

import logging
import tempfile

from s2p.config import Settings, build_path_map
from s2p.demo.library import Library, sample
from s2p.demo.standin import StashStandIn

log = logging.getLogger(__name__)

DEMO_API_KEY = "demo-api-key-not-secret"
STASH_ROOT = "/stash/library"
PLEX_ROOT = "/plex/library"


def start_standin(library: Library, *, api_key: str = "", host: str = "127.0.0.1", port: int = 0,
                  threads: int = 16, **options):
    """Serve a library as a stand-in Stash; returns (server, stand-in)."""
    from s2p.app.server import BackgroundServer

    standin = StashStandIn(library, api_key=api_key, **options)
    server = BackgroundServer.for_app(standin, host=host, port=port, threads=threads).start()
    library.base_url = server.url
    return server, standin


def demo_settings(stash_url: str, *, host: str, port: int, state_dir: str) -> Settings:
    settings = Settings.model_validate({
        "server": {"host": host, "port": port},
        "stash": {"url": stash_url, "api_key": DEMO_API_KEY},
        "paths": [{
            "name": "demo",
            "stash_to_plex": [f"^{STASH_ROOT}/(.*)$", f"{PLEX_ROOT}/\\1"],
            "plex_to_stash": [f"^{PLEX_ROOT}/(.*)$", f"{STASH_ROOT}/\\1"],
            "examples": [f"{STASH_ROOT}/Harbour Films/extras/scene.mp4"],
        }],
        "state": {"dir": state_dir},
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


def run(host: str = "127.0.0.1", port: int = 8008) -> int:
    from s2p.app.server import serve

    library = sample(STASH_ROOT)
    server, _ = start_standin(library, api_key=DEMO_API_KEY)
    state = tempfile.mkdtemp(prefix="s2p-demo-")
    settings = demo_settings(server.url, host=host, port=port, state_dir=state)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    log.info("demo: a stand-in Stash with %d sample scenes answers at %s", len(library.scenes), server.url)
    print(
        "\ns2p demo: try these while it runs (Ctrl-C stops it)\n"
        f"  curl -s {base}/\n"
        f"  curl -s -X POST {base}/library/metadata/matches -H 'Content-Type: application/json' \\\n"
        "       -d '{\"type\": 1, \"filename\": \"Harbour Films/extras/scene.mp4\"}'\n"
        f"  curl -s -X POST {base}/library/metadata/matches -H 'Content-Type: application/json' \\\n"
        "       -d '{\"type\": 1, \"title\": \"beach day\", \"manual\": 1}'\n"
        f"  curl -s {base}/library/metadata/1\n"
        f"  curl -s -o poster.png '{_poster_url(library, base, state)}'\n",
        flush=True,
    )
    try:
        return serve(settings)
    finally:
        server.stop()
