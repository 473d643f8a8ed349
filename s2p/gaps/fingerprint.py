"""Fingerprinting a Plex file s2p can read, to recognise a Stash file under
another path (moved, renamed, or behind a missing path rule).

Only files inside ``[match] media_roots`` are read (resolved, symlinks
included), and only 128 KiB of each: Stash's oshash, as the matcher computes
it (``s2p.match.localfiles``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from s2p.match.localfiles import file_inside, oshash_file, real_roots
from s2p.paths.forms import split_components
from s2p.pms.models import PlexSection


def oshash(path: str | os.PathLike) -> str | None:
    """Stash's oshash of a file, or ``None`` when it cannot be read or has none."""
    try:
        return oshash_file(str(path))
    except OSError:
        return None


class SectionFiles:
    """Where s2p can read a file that Plex names during a comparison.

    A Plex path is tried as it is when it lies under a media root, then as
    each media root joined with the path inside its Plex library folder
    (``/data/adult/Studio/a.mp4`` in a library at ``/data/adult`` is looked
    for as ``<root>/Studio/a.mp4``).
    """

    def __init__(self, roots: Sequence[str]):
        self._roots = real_roots(roots)

    def __bool__(self) -> bool:
        return bool(self._roots)

    def candidates(self, plex_path: str, section: PlexSection) -> list[Path]:
        components = split_components(plex_path)
        if ".." in components:
            return []  # never step outside the media roots
        found: list[Path] = [Path(plex_path)]
        for location in section.locations:
            prefix = split_components(location)
            if prefix and components[: len(prefix)] == prefix:
                inside = components[len(prefix):]
                found.extend(Path(root).joinpath(*inside) for root in self._roots if inside)
        return [p for p in found if file_inside(self._roots, str(p))]

    def hash(self, plex_path: str, section: PlexSection) -> str | None:
        for candidate in self.candidates(plex_path, section):
            digest = oshash(candidate)
            if digest is not None:
                return digest
        return None
