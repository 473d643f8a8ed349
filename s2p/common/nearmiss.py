"""Near misses of a secret: text holding a long run of one.

A caller who mistypes the path secret (one character short, one too many, a
character swapped) sends most of it; shown whole in a log or a record, the
rest is easy to guess.  Any run of letters, digits, ``-`` and ``_`` that
shares ``RUN`` consecutive characters with a secret, in any case, is
replaced as a whole.
"""

from __future__ import annotations

import re
from typing import Iterable

# Eight characters of a random secret turn up by chance in no path, query or
# signature s2p sees; fewer would hide ordinary words of a secret a person chose.
RUN = 8
HIDDEN = "***"
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{%d,}" % RUN)


class NearMisses:
    def __init__(self, secrets: Iterable[str], keep: Iterable[str] = ()):
        self._grams: set[str] = set()
        for secret in secrets:
            folded = secret.lower()
            self._grams.update(folded[i:i + RUN] for i in range(len(folded) - RUN + 1))
        self._keep = frozenset(keep)

    def __bool__(self) -> bool:
        return bool(self._grams)

    def holds(self, token: str) -> bool:
        """Whether ``token`` shares ``RUN`` characters in a row with a secret."""
        folded = token.lower()
        grams = self._grams
        return any(folded[i:i + RUN] in grams for i in range(len(folded) - RUN + 1))

    def hide(self, text: str) -> str:
        """``text`` with every run that holds part of a secret replaced by ``***``."""
        if not self._grams or len(text) < RUN:
            return text
        return _TOKEN.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        token = match.group()
        return HIDDEN if token not in self._keep and self.holds(token) else token
