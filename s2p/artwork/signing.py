"""Signed image URLs: only URLs s2p handed out are served.

The image route has to be reachable by Plex's image fetcher, often from a
public hostname.  Every image URL therefore carries an HMAC of what it names
(kind, id, variant, version), keyed with a secret that s2p creates on first
start and keeps in its state directory.  The key never changes on its own,
so the URLs Plex stores keep working across restarts; deleting the key file
invalidates every URL handed out so far (Plex gets new ones at its next
metadata refresh).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Callable

from s2p.common.statedir import StateDirError, ensure_state_dir, read_or_create

log = logging.getLogger(__name__)

KEY_FILE = "image-signing-key"
KEY_BYTES = 32
# 16 bytes of HMAC-SHA256: far beyond guessing, and a short URL.
SIGNATURE_BYTES = 16
SIGNATURE_LENGTH = 22  # url-safe base64 of 16 bytes, without padding
# Signatures computed and kept (about 150 bytes each).
SIGNATURES_KEPT = 50_000


class ImageSigner:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the image signing key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_state_dir(cls, state_dir: str | os.PathLike) -> "ImageSigner":
        """The signer for this installation; its key is created on first use."""
        path = ensure_state_dir(state_dir) / KEY_FILE
        try:
            text = read_or_create(path, _new_key)
        except OSError as exc:
            raise StateDirError(f"cannot read or create the image signing key {path}: {exc.strerror}. "
                                "Fix: make [state] dir (S2P_STATE_DIR) writable by s2p") from None
        key = _decode(text)
        if key is None:
            raise StateDirError(f"the image signing key {path} is damaged. Fix: delete the file; s2p makes a "
                                "new one (Plex then needs a metadata refresh to get working image URLs)")
        _warn_if_readable(path)
        return cls(key)

    def sign(self, kind: str, entity_id: str, variant: str, version: str) -> str:
        return self._signed(kind, entity_id, variant, version)

    @functools.cached_property
    def _signed(self) -> Callable[[str, str, str, str], str]:
        # Signatures are asked for again and again (every answer that shows a
        # picture, every fetch of it): each is computed once, a bounded number kept.
        return functools.lru_cache(maxsize=SIGNATURES_KEPT)(self._sign)

    def _sign(self, kind: str, entity_id: str, variant: str, version: str) -> str:
        message = f"{kind}/{entity_id}/{variant}/{version}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def verify(self, kind: str, entity_id: str, variant: str, version: str, signature: str | None) -> bool:
        if not signature or len(signature) != SIGNATURE_LENGTH:
            return False
        return hmac.compare_digest(self.sign(kind, entity_id, variant, version), signature)


def _new_key() -> bytes:
    # Kept as text so the file can be backed up or copied by hand.
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)) + b"\n"


def _decode(text: bytes) -> bytes | None:
    try:
        key = base64.urlsafe_b64decode(text.strip())
    except (binascii.Error, ValueError):
        return None
    return key if len(key) >= 16 else None


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning("the image signing key %s can be read by other users; run: chmod 600 %s", path, path)
