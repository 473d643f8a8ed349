"""Turning Plex's ``filename`` hint into comparable path components.  Pure.

Plex may send the path relative to the library root or absolute, with ``/``
or ``\\`` separators (Windows servers), with a drive letter, in NFC or NFD
Unicode (macOS shares).  ``..`` segments are refused outright.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class HintPath:
    original: str
    components: tuple[str, ...]  # NFC, without empty or "." parts
    absolute: bool

    @property
    def basename(self) -> str:
        return self.components[-1] if self.components else ""

    @property
    def posix(self) -> str:
        return ("/" if self.absolute else "") + "/".join(self.components)


class RefusedPath(ValueError):
    pass


def split_components(path: str) -> tuple[str, ...]:
    """Components of any path (either separator), NFC-normalised."""
    text = unicodedata.normalize("NFC", path)
    text = _DRIVE.sub("", text)
    return tuple(part for part in re.split(r"[/\\]+", text) if part and part != ".")


def canonical(path: str) -> str:
    """One spelling of a path for exact comparison: NFC, ``/`` separators,
    no drive letter, no empty or "." parts, a leading ``/``.

    The usual POSIX path is already canonical and comes back as the very
    same object (no copy is made).
    """
    text = "/" + "/".join(split_components(path))
    return path if text == path else text


def fold_name(component: str) -> str:
    """A component compared without case or surrounding spaces (NFC first,
    so macOS's NFD names fold to the same text)."""
    return unicodedata.normalize("NFC", component).casefold().strip()


def parse_hint(filename: str) -> HintPath:
    text = filename.strip()
    if not text:
        raise RefusedPath("the filename hint is empty")
    absolute = text.startswith(("/", "\\")) or bool(_DRIVE.match(text))
    components = split_components(text)
    if ".." in components:
        raise RefusedPath("the filename hint contains '..'")
    if not components:
        raise RefusedPath("the filename hint names no file")
    return HintPath(filename, components, absolute)


def common_suffix(a: tuple[str, ...], b: tuple[str, ...], *, fold: bool = False) -> int:
    """How many trailing components two paths share."""
    count = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x == y or (fold and fold_name(x) == fold_name(y)):
            count += 1
        else:
            break
    return count
