"""Title normalisation and similarity for matching by title.  Pure.

Plex's title hint is what its scanner made of the file name (release tags,
dots for spaces), or what a person typed in Fix Match.  Both sides are
reduced to plain lower-case words before comparing.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

# Quotes and apostrophes of every kind collapse to nothing.
_QUOTES = dict.fromkeys(map(ord, "'\"`´‘’‚‛“”„‟′″‹›«»＂＇"), None)
_RELEASE_TAGS = re.compile(
    r"\b("
    r"\d{3,4}p|4k|2160p|uhd|hd|sd|fhd|"
    r"x26[45]|h\.?26[45]|hevc|avc|av1|xvid|divx|"
    r"web[- ]?dl|web[- ]?rip|webrip|hdrip|bdrip|brrip|bluray|dvdrip|"
    r"mp4|mkv|avi|wmv|mov|m4v|"
    r"xxx|aac|ac3|dts|hdr|sdr|10bit|8bit|"
    r"repack|proper|internal"
    r")\b"
)


def normalise(title: str) -> str:
    """Lower case, no accents, no quotes or punctuation, no release tags."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_QUOTES).casefold()
    text = re.sub(r"[._]+", " ", text)
    text = _RELEASE_TAGS.sub(" ", text)
    text = re.sub(r"[^\w\s]+", " ", text)
    return " ".join(text.split())


def similarity(a: str, b: str) -> float:
    """0.0-1.0: how alike two titles are after normalising both."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    ratio = difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()
    words_a, words_b = set(na.split()), set(nb.split())
    overlap = len(words_a & words_b) / len(words_a | words_b)
    best = max(ratio, overlap)
    # Every word of the shorter title found in the longer one (a person
    # typing part of a title in Fix Match): close, but short of identical.
    shorter, longer = sorted((words_a, words_b), key=len)
    if shorter and shorter <= longer:
        best = max(best, 0.75 + 0.25 * overlap)
    return best
