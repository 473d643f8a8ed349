"""Hashing the file Plex names, where s2p can read the library itself.

With ``[match] media_roots`` set, a match can compute the file's oshash
(Stash's fingerprint: the size plus the first and last 64 KiB read as
little-endian 64-bit words) and look it up, so renamed and moved files still
find their scene.  A hint only ever leads to a file inside a configured root:
``..`` is refused before this module is reached, and every candidate is
resolved (symlinks included) and must still lie inside a root.

Reads run on a small pool of threads and are waited for only as long as the
request's budget allows: a stalled network mount costs a match its hash, not
its answer.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import BinaryIO

from s2p.common.deadline import Deadline
from s2p.paths.forms import HintPath

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_MASK = (1 << 64) - 1
# At most this long for one file's hash, even with a larger budget left.
HASH_TIMEOUT = 5.0


def oshash_of(stream: BinaryIO, size: int) -> str | None:
    """Stash's oshash of an open file, or ``None`` where Stash has none.

    As Stash computes it: files of 8 bytes or less have no oshash; below
    64 KiB the head and tail are the largest multiple of 8 bytes that fits
    (so they overlap, as they also do up to 128 KiB).
    """
    if size <= 8:
        return None
    chunk = CHUNK if size >= CHUNK else (size // 8) * 8
    stream.seek(0)
    head = _read_exactly(stream, chunk)
    stream.seek(size - chunk)
    tail = _read_exactly(stream, chunk)
    if head is None or tail is None:
        return None  # the file shrank while it was read
    words = struct.unpack(f"<{chunk // 8}Q", head)
    total = sum(words) + sum(struct.unpack(f"<{chunk // 8}Q", tail)) + size
    return f"{total & _MASK:016x}"


def oshash_file(path: str) -> str | None:
    with open(path, "rb") as fh:
        return oshash_of(fh, os.fstat(fh.fileno()).st_size)


def _read_exactly(stream: BinaryIO, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        more = stream.read(count - len(data))
        if not more:
            return None
        data += more
    return data


def real_roots(roots: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(os.path.realpath(r) for r in roots if r))


def file_inside(roots: Sequence[str], path: str) -> str | None:
    """``path`` resolved (symlinks included) when it is a regular file inside
    one of ``roots`` (themselves resolved), else ``None``."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    for root in roots:
        try:
            if os.path.commonpath([root, real]) == root and os.path.isfile(real):
                return real
        except ValueError:  # different drives on Windows
            continue
    return None


@dataclass(frozen=True)
class LocalHash:
    path: str  # the local file that was read
    oshash: str | None
    problem: str | None = None  # why no hash, when there is none


class LocalFiles:
    """Finds the local copy of a hinted file under the media roots and hashes it."""

    def __init__(self, roots: Sequence[str], *, workers: int = 2):
        self.roots = real_roots(roots)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s2p-hash")
        for root in self.roots:
            if not os.path.isdir(root):  # a share not mounted yet is not fatal: warn, keep trying
                log.warning("[match] media_roots: %s is not a readable directory (yet); files under it "
                            "cannot be hashed until it is", root)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def candidates(self, hint: HintPath, translated: str | None) -> list[str]:
        """Local paths the hint may name, most specific first (not yet checked)."""
        found: list[str] = []
        if translated:
            found.append(translated)  # s2p runs where Stash's paths are valid
        if hint.absolute:
            found.append(hint.original.strip())  # s2p runs where Plex's paths are valid
        # Plex's path is relative to a library folder that may or may not be
        # part of it: try it whole, then without its leading folders (a
        # single file name is tried only when that is all the hint has).
        parts = hint.components
        shortest = 1 if len(parts) == 1 else 2
        for keep in range(len(parts), shortest - 1, -1):
            for root in self.roots:
                found.append(os.path.join(root, *parts[len(parts) - keep:]))
        return list(dict.fromkeys(found))

    def inside_roots(self, path: str) -> str | None:
        """The resolved path when it is a regular file inside a root, else ``None``."""
        return file_inside(self.roots, path)

    def find_and_hash(self, hint: HintPath, translated: str | None) -> LocalHash | None:
        """The first candidate inside a root, hashed (blocking; see ``lookup``)."""
        for candidate in self.candidates(hint, translated):
            real = self.inside_roots(candidate)
            if real is None:
                continue
            try:
                value = oshash_file(real)
            except OSError as exc:
                return LocalHash(real, None, f"cannot be read ({exc.strerror or type(exc).__name__})")
            if value is None:
                return LocalHash(real, None, "too small to have an oshash")
            return LocalHash(real, value)
        return None

    def lookup(self, hint: HintPath, translated: str | None, deadline: Deadline) -> LocalHash | None:
        """``find_and_hash`` on the pool, waited for within the request's budget."""
        if not self.roots:
            return None
        wait = deadline.cap(HASH_TIMEOUT)
        if wait <= 0:
            return LocalHash("", None, "no time left to read the file")
        future = self._pool.submit(self.find_and_hash, hint, translated)
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            future.cancel()
            log.warning("reading a file under [match] media_roots took over %.1fs; matching without its hash", wait)
            return LocalHash("", None, f"reading the file took over {wait:.1f}s")
