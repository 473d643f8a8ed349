"""A record of the last requests Plex sent (``[debug] capture = N``).

Plex's requests to a custom provider are not fully documented; the first
real Plex settles what is unverified.  Each record keeps the method, the
path and query exactly as sent (trailing slash, repeated and blank values),
the ``X-Plex-*`` headers, the first 4 KB of the body exactly as sent (also
when s2p refused it), and the status, size, time and paging (``offset``,
``size``, ``totalSize``) of s2p's answer.  Every configured secret, anything
holding a near miss of one (``common.nearmiss``) and every value named like
a token is masked before it is kept.

Bytes as sent are kept as a JSON string when they are UTF-8 (the string's
UTF-8 encoding is those bytes), else as ``{"base64": ...}``: lossless either
way.

Records are bounded in bytes, each (``MAX_RECORD_BYTES``) and all together
(``MAX_TOTAL_BYTES``, besides the count N), in memory, in the answer of
``/debug/requests`` and in the file: a JSON-lines file in the state
directory, so they survive a restart, compacted to what memory holds
whenever it grows to twice that.  Writing is best effort: a full disk loses
a record, never an answer.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote, unquote_plus

from s2p.common.nearmiss import NearMisses

log = logging.getLogger(__name__)

FILE_NAME = "plex-requests.jsonl"
MAX_BODY = 4096  # bytes of a body kept, as sent
MAX_VALUE = 512  # characters of one header or parameter value
MAX_RAW = 4096  # characters of the raw path, and of the raw query string
MAX_FIELDS = 4096  # characters of all headers kept, and of all parameters
# A record's JSON is never longer than this: the parts above fit in it with room to spare.
MAX_RECORD_BYTES = 24 * 1024
# All records together (in memory, in /debug/requests); the file holds at most twice this.
MAX_TOTAL_BYTES = 8 * 1024 * 1024
_TOKEN_NAMES = ("token", "key", "secret", "password", "auth")
HIDDEN = "***"


class Masker:
    """Configured secrets and their near misses out of text."""

    def __init__(self, secrets: Iterable[str]):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._near = NearMisses(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        return self._near.hide(text)

    def holds_secret(self, text: str) -> bool:
        return self(text) != text


def mask_text(text: str, secrets: Iterable[str]) -> str:
    return Masker(secrets)(text)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _TOKEN_NAMES)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def clean(name: str, value: str, secrets: Iterable[str] | Masker) -> str:
    """A header or parameter value as it may be kept."""
    if is_secret_name(name):
        return HIDDEN
    masker = secrets if isinstance(secrets, Masker) else Masker(secrets)
    return cut(masker(value), MAX_VALUE)


def bounded_fields(pairs: Iterable[tuple[str, str]], masker: Masker) -> tuple[dict[str, str], int]:
    """Cleaned values until ``MAX_FIELDS`` characters are used; and how many were left out."""
    kept: dict[str, str] = {}
    used = left_out = 0
    for name, value in pairs:
        value = clean(name, value, masker)
        size = len(name) + len(value)
        if used + size > MAX_FIELDS:
            left_out += 1
            continue
        kept[name] = value
        used += size
    return kept, left_out


def as_sent(data: bytes) -> str | dict[str, str]:
    """Bytes kept losslessly: the text when they are UTF-8, else base64."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def body_as_sent(prefix: bytes, whole: int | None) -> str | dict[str, str]:
    """A body's kept prefix; when the cut fell inside a UTF-8 character, the
    prefix stops before it, so that a UTF-8 body still reads as text."""
    if whole is not None and whole > len(prefix):
        for back in range(4):
            try:
                return prefix[:len(prefix) - back].decode("utf-8")
            except UnicodeDecodeError:
                continue
    return as_sent(prefix)


def from_sent(value: Any) -> bytes:
    """The bytes ``as_sent`` kept."""
    if isinstance(value, dict):
        return base64.b64decode(value.get("base64", ""))
    return str(value).encode("utf-8")


def masked_body(data: bytes, masker: Masker) -> bytes:
    # latin-1 maps each byte to one character and back: masking the text masks the bytes.
    text = data.decode("latin-1")
    hidden = masker(text)
    return data if hidden == text else hidden.encode("latin-1", "replace")


def masked_query(raw: str, masker: Masker) -> str:
    """The query string as sent, each value named like a token, or holding a
    secret once decoded, replaced by ``***``; everything else byte for byte."""
    parts = []
    for part in raw.split("&"):
        name, equals, value = part.partition("=")
        decoded = unquote_plus(value, encoding="latin-1")
        if equals and (is_secret_name(unquote_plus(name)) or masker.holds_secret(decoded)
                       or masker.holds_secret(value)):
            value = HIDDEN
        if masker.holds_secret(unquote_plus(name, encoding="latin-1")) or masker.holds_secret(name):
            name = HIDDEN
        parts.append(f"{name}{equals}{value}")
    return "&".join(parts)


def masked_path(raw: str, masker: Masker, root_secret: str, root_shown: str) -> str:
    """The path as sent, each segment holding a secret (once decoded) masked;
    the others, slashes included, byte for byte."""
    segments = []
    for segment in raw.split("/"):
        decoded = unquote(segment, encoding="latin-1")
        if root_secret and decoded == root_secret:
            segment = root_shown
        elif masker.holds_secret(decoded) or masker.holds_secret(segment):
            segment = HIDDEN
        segments.append(segment)
    return "/".join(segments)


def size_of(record: dict[str, Any]) -> int:
    return len(json.dumps(record, ensure_ascii=False).encode("utf-8"))


# Left out, in this order, of a record still over MAX_RECORD_BYTES.
_SHED = ("headers", "query", "body", "raw_query", "raw_path", "path")


def bounded(record: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The record within ``MAX_RECORD_BYTES``, and its size."""
    size = size_of(record)
    shed = []
    for name in _SHED:
        if size <= MAX_RECORD_BYTES:
            break
        if record.get(name) is not None:
            record[name] = None
            shed.append(name)
            size = size_of({**record, "left_out": shed})
    if shed:
        record["left_out"] = shed
    return record, size


class RequestCapture:
    def __init__(self, state_dir: str | Path, limit: int, secrets: Iterable[str] = (), *,
                 max_bytes: int = MAX_TOTAL_BYTES):
        self.path = Path(state_dir) / FILE_NAME
        self.limit = limit
        self.max_bytes = max_bytes
        self.masker = Masker(secrets)
        self._lock = threading.Lock()
        self._records: deque[tuple[dict[str, Any], int]] = deque()
        self._bytes = 0
        for record in read(self.path)[-limit:]:
            self._keep(record, size_of(record))
        self._lines = len(self._records)
        self._file_bytes = self._bytes + self._lines

    def add(self, record: dict[str, Any]) -> None:
        # Every text masked again: no value reaches the file or the routes unmasked.
        record, _size = bounded(self._masked(record))
        text = json.dumps(record, ensure_ascii=False)
        size = len(text.encode("utf-8"))
        with self._lock:
            self._keep(record, size)
            try:
                if self._lines >= 2 * self.limit or self._file_bytes + size + 1 > 2 * self.max_bytes:
                    self._rewrite()
                else:
                    with open(self.path, "a", encoding="utf-8") as fh:
                        fh.write(text + "\n")
                    self._lines += 1
                    self._file_bytes += size + 1
            except OSError as exc:
                log.debug("request capture not written: %s", exc)

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.masker(value)
        if isinstance(value, dict):
            if set(value) == {"base64"}:
                return value  # bytes, masked before they were encoded
            return {self.masker(str(k)): self._masked(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._masked(v) for v in value]
        return value

    def _keep(self, record: dict[str, Any], size: int) -> None:
        self._records.append((record, size))
        self._bytes += size
        while len(self._records) > self.limit or (self._bytes > self.max_bytes and len(self._records) > 1):
            _dropped, dropped_size = self._records.popleft()
            self._bytes -= dropped_size

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record for record, _size in self._records]

    def size(self) -> int:
        """Bytes of JSON the records hold."""
        with self._lock:
            return self._bytes

    def _rewrite(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        written = 0
        with open(partial, "w", encoding="utf-8") as fh:
            for record, size in self._records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += size + 1
        os.replace(partial, self.path)
        self._lines = len(self._records)
        self._file_bytes = written


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


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        data = from_sent(value)
        return f"({len(data)} bytes, not UTF-8: {data[:200]!r})"
    return str(value)


def describe(record: dict[str, Any]) -> str:
    """One record as lines a person reads (``s2p debug requests``)."""
    if record.get("raw_path") is not None:
        target = _shown(record["raw_path"])
        raw_query = record.get("raw_query")
        query = _shown(raw_query) if raw_query else ""
    else:  # a record from before the raw fields
        target = str(record.get("path", "?"))
        query = "&".join(f"{k}={v}" for k, v in (record.get("query") or {}).items())
    lines = [f"{record.get('time', '?')}  {record.get('method', '?')} {target}"
             f"{'?' + query if query else ''}  -> {record.get('status', '?')}, {record.get('bytes', '?')} bytes, "
             f"{record.get('ms', '?')} ms  from {record.get('client', '?')}"]
    answer = record.get("answer")
    if answer:
        lines.append("    answer: " + ", ".join(f"{k} {v}" for k, v in answer.items()))
    for name, value in (record.get("headers") or {}).items():
        lines.append(f"    {name}: {value}")
    if record.get("body") is not None:
        whole = record.get("body_bytes")
        lines.append(f"    body{f' ({whole} bytes sent)' if whole is not None else ''}: {_shown(record['body'])}")
    return "\n".join(lines)
