"""Connecting to the Plex server (for registration, gap detection, artwork
uploads) through plexapi, with errors that never carry the token.

plexapi is imported only here and only when a Plex connection is made: it
reads its own config file and derives a client identifier from the MAC
address when imported, neither of which s2p wants at start-up.  s2p pins its
client identifier to one kept in the state directory instead, so Plex sees
one stable device across restarts and container rebuilds.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import requests

from s2p import __version__
from s2p.config import PlexSettings
from s2p.common.statedir import ensure_state_dir, write_atomically

log = logging.getLogger(__name__)

CLIENT_ID_FILE = "plex-client-id"
TOKEN_FIX = ("Fix: set [plex] token (S2P_PLEX_TOKEN) to a token of the server's owner (Plex Web: any item > "
             "Get Info > View XML, the X-Plex-Token in the address)")
UNREACHABLE_FIX = ("Fix: check that Plex is running and that [plex] url (S2P_PLEX_URL) is its address as seen "
                   "from here, e.g. http://192.168.1.10:32400")


class PlexError(Exception):
    """Any failure to talk to Plex; the message is safe to show."""


class PlexUnavailable(PlexError):
    """Plex could not be reached or failed."""


class PlexAuthError(PlexError):
    """Plex refused the token."""


class PlexNotConfigured(PlexError):
    """[plex] url or token is missing."""


def client_identifier(state_dir: str | Path) -> str:
    path = ensure_state_dir(state_dir) / CLIENT_ID_FILE
    try:
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value
    except (OSError, UnicodeDecodeError):
        pass
    value = f"s2p-{uuid.uuid4()}"
    write_atomically(path, value.encode("ascii"))
    return value


def connect(settings: PlexSettings, state_dir: str | Path) -> Any:
    """A ``plexapi.server.PlexServer`` for the configured Plex."""
    token = settings.token.get_secret_value()
    if not settings.url or not token:
        raise PlexNotConfigured("set [plex] url and [plex] token (S2P_PLEX_URL, S2P_PLEX_TOKEN) first")
    import plexapi
    from plexapi.exceptions import BadRequest, NotFound, Unauthorized
    from plexapi.server import PlexServer

    identifier = client_identifier(state_dir)
    plexapi.X_PLEX_IDENTIFIER = identifier
    plexapi.BASE_HEADERS["X-Plex-Client-Identifier"] = identifier
    plexapi.BASE_HEADERS["X-Plex-Product"] = "s2p"
    plexapi.BASE_HEADERS["X-Plex-Version"] = __version__
    session = requests.Session()
    session.verify = settings.verify_tls
    try:
        return PlexServer(settings.url, token, session=session, timeout=settings.timeout)
    except Unauthorized:
        raise PlexAuthError(f"Plex refused the token. {TOKEN_FIX}") from None
    except (BadRequest, NotFound) as exc:
        raise PlexUnavailable(f"Plex at {settings.url} answered unexpectedly ({_first_line(exc)})") from None
    except requests.RequestException as exc:
        raise PlexUnavailable(f"cannot reach Plex at {settings.url} ({type(exc).__name__}). {UNREACHABLE_FIX}") from None


def list_sections(plex: Any) -> list[Any]:
    """Plex's libraries as Plex lists them now.  plexapi keeps the first
    answer of ``plex.library.sections()`` for the connection's life; a fresh
    ``Library`` asks again (a library added or switched to another agent)."""
    from plexapi.library import Library

    return Library(plex, plex.query(Library.key)).sections()


def translate_errors(exc: Exception, doing: str) -> PlexError:
    """A safe PlexError for an exception raised while talking to Plex."""
    from plexapi.exceptions import BadRequest, NotFound, Unauthorized

    if isinstance(exc, PlexError):
        return exc
    if isinstance(exc, Unauthorized):
        return PlexAuthError(f"Plex refused the token while {doing}. {TOKEN_FIX}")
    if isinstance(exc, (BadRequest, NotFound)):
        return PlexUnavailable(f"Plex answered unexpectedly while {doing} ({_first_line(exc)})")
    if isinstance(exc, requests.RequestException):
        return PlexUnavailable(f"cannot reach Plex while {doing} ({type(exc).__name__}). {UNREACHABLE_FIX}")
    return PlexUnavailable(f"{type(exc).__name__} while {doing}")


def _first_line(exc: Exception) -> str:
    # plexapi puts the URL in its messages; the token travels in a header,
    # but keep messages short and free of query strings anyway.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split("?")[0][:200]
