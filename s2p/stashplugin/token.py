"""The Stash plugin's access token: made once, kept in the state directory.

The token travels inside the plugin's zip, so whoever may download the zip
may read it: it keeps the bridge's routes from being called by anything
that did not install the plugin (a web page in a browser on the LAN above
all, which can send neither the header nor read the zip).  Deleting the
file makes a new token; Stash then offers the plugin as an update, and the
plugin installed before is refused until it is updated.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from pathlib import Path

from s2p.common.statedir import StateDirError, ensure_state_dir, read_or_create

FILE_NAME = "stash-plugin-token"
HEADER = "X-S2P-Token"
TOKEN_BYTES = 32


class PluginToken:
    """The token, read (or made) on first use, not at construction."""

    def __init__(self, state_dir: str | os.PathLike):
        self._state_dir = state_dir
        self._value: str | None = None
        self._lock = threading.Lock()

    @property
    def value(self) -> str:
        with self._lock:
            if self._value is None:
                self._value = _load(Path(ensure_state_dir(self._state_dir)) / FILE_NAME)
            return self._value

    def accepts(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.value.encode("ascii"))


def _new_token() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES)).rstrip(b"=") + b"\n"


def _load(path: Path) -> str:
    try:
        text = read_or_create(path, _new_token).decode("ascii", "replace").strip()
    except OSError as exc:
        raise StateDirError(f"cannot read or create the Stash plugin's token {path}: {exc.strerror}. "
                            "Fix: make [state] dir (S2P_STATE_DIR) writable by s2p") from None
    if len(text) < 32 or not text.replace("-", "").replace("_", "").isalnum():
        raise StateDirError(f"the Stash plugin's token {path} is damaged. Fix: delete the file; s2p makes a new "
                            "one (then update the plugin in Stash)")
    return text
