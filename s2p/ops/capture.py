"""A record of the last requests Plex sent (``[debug] capture = N``).

Plex's requests to a custom provider are not fully documented; the first
real Plex settles what is unverified.  Each record keeps the method, the
path, the query, the ``X-Plex-*`` headers, the body (cut at 4 KB) and the
status, size and time of s2p's answer, with every configured secret and
every token-like value masked before it is kept.

Records go to a JSON-lines file in the state directory, so they survive a
restart; the file is compacted to the last N records whenever it holds
twice that many.  Writing is best effort: a full disk loses a record, never
an answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

FILE_NAME = "plex-requests.jsonl"
MAX_BODY = 4096
MAX_VALUE = 512
_TOKEN_NAMES = ("token", "key", "secret", "password", "auth")


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _TOKEN_NAMES)


def clean(name: str, value: str, secrets: Iterable[str]) -> str:
    """A header or parameter value as it may be kept."""
    if is_secret_name(name):
        return "***"
    value = mask_text(value, secrets)
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + f"… ({len(value)} characters)"


class RequestCapture:
    def __init__(self, state_dir: str | Path, limit: int, secrets: Iterable[str] = ()):
        self.path = Path(state_dir) / FILE_NAME
        self.limit = limit
        self._secrets = [s for s in secrets if s]
        self._lock = threading.Lock()
        self._records: deque[dict[str, Any]] = deque(read(self.path)[-limit:], maxlen=limit)
        self._lines = len(self._records)

    def add(self, record: dict[str, Any]) -> None:
        # Masked again as a whole: a secret split over fields cannot hide,
        # and no value reaches the file or the routes unmasked.
        text = mask_text(json.dumps(record, ensure_ascii=False), self._secrets)
        with self._lock:
            self._records.append(json.loads(text))
            try:
                if self._lines >= 2 * self.limit:
                    self._rewrite()
                else:
                    with open(self.path, "a", encoding="utf-8") as fh:
                        fh.write(text + "\n")
                    self._lines += 1
            except OSError as exc:
                log.debug("request capture not written: %s", exc)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def _rewrite(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as fh:
            for record in self._records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(partial, self.path)
        self._lines = len(self._records)


def read(path: str | Path) -> list[dict[str, Any]]:
    """The records a capture file holds (a damaged line is skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def describe(record: dict[str, Any]) -> str:
    """One record as lines a person reads (``s2p debug requests``)."""
    query = "&".join(f"{k}={v}" for k, v in (record.get("query") or {}).items())
    lines = [f"{record.get('time', '?')}  {record.get('method', '?')} {record.get('path', '?')}"
             f"{'?' + query if query else ''}  -> {record.get('status', '?')}, {record.get('bytes', '?')} bytes, "
             f"{record.get('ms', '?')} ms  from {record.get('client', '?')}"]
    for name, value in (record.get("headers") or {}).items():
        lines.append(f"    {name}: {value}")
    if record.get("body"):
        lines.append(f"    body: {record['body']}")
    return "\n".join(lines)
