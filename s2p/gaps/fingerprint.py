"""Fingerprinting a Plex file s2p can read, to recognise a Stash file under
another path (moved, renamed, or behind a missing path rule).

Only files under ``[match] media_roots`` are read, and only 128 KiB of each:
Stash's oshash is the file size plus the sum of the first and last 64 KiB
as little-endian 64-bit words.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Sequence

from ..hintpaths import split_components
from .detect import PlexSection

CHUNK = 64 * 1024


def oshash(path: str | os.PathLike) -> str | None:
    """Stash's oshash of a file, or ``None`` when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return None
            chunk = min(CHUNK, size)
            head = fh.read(chunk)
            fh.seek(size - chunk)
            tail = fh.read(chunk)
    except OSError:
        return None
    total = size
    for block in (head, tail):
        words = len(block) // 8
        total += sum(struct.unpack(f"<{words}Q", block[: words * 8]))
    return f"{total & 0xFFFFFFFFFFFFFFFF:016x}"


class LocalFiles:
    """Where s2p can read a file that Plex names.

    A Plex path is tried as it is when it lies under a media root, then as
    each media root joined with the path inside its Plex library folder
    (``/data/adult/Studio/a.mp4`` in a library at ``/data/adult`` is looked
    for as ``<root>/Studio/a.mp4``).
    """

    def __init__(self, roots: Sequence[str]):
        self._roots = [Path(r) for r in roots if r]

    def __bool__(self) -> bool:
        return bool(self._roots)

    def candidates(self, plex_path: str, section: PlexSection) -> list[Path]:
        components = split_components(plex_path)
        if ".." in components:
            return []  # never step outside the media roots
        found: list[Path] = []
        direct = Path(plex_path)
        if any(_under(direct, root) for root in self._roots):
            found.append(direct)
        for location in section.locations:
            prefix = split_components(location)
            if prefix and components[: len(prefix)] == prefix:
                inside = components[len(prefix):]
                found.extend(root.joinpath(*inside) for root in self._roots if inside)
        return found

    def hash(self, plex_path: str, section: PlexSection) -> str | None:
        for candidate in self.candidates(plex_path, section):
            if candidate.is_file():
                return oshash(candidate)
        return None


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
