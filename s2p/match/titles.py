"""Title normalisation and similarity for matching by title.  Pure.

Plex's title hint is what its scanner made of the file name (release tags,
dots for spaces), or what a person typed in Fix Match.  Both sides are
reduced to plain lower-case words before comparing: no accents, no quotes
of any kind, no punctuation, no release tags, no file extension.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

# Quotes and apostrophes of every kind.
QUOTES = "'\"`´‘’‚‛“”„‟′″‹›«»＂＇ʼʻ"
_QUOTES = dict.fromkeys(map(ord, QUOTES), None)
# Letters that carry no combining accent to strip (NFKD leaves them whole).
_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
                          "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i"})
_RELEASE_TAGS = re.compile(
    r"(?<![^\W_])("
    r"\d{3,4}p|4k|8k|2160p|uhd|hd|sd|fhd|qhd|"
    r"x26[45]|h\.?26[45]|hevc|avc|av1|xvid|divx|vp9|"
    r"web[- ]?dl|web[- ]?rip|webrip|hdrip|bdrip|brrip|bluray|blu[- ]ray|dvdrip|hdtv|"
    r"mp4|mkv|avi|wmv|mov|m4v|flv|webm|"
    r"xxx|aac|ac3|dts|hdr|hdr10|sdr|10bit|8bit|60fps|30fps|"
    r"repack|proper|internal|remux"
    r")(?![^\W_])",
    re.IGNORECASE,
)
_EXTENSION = re.compile(r"\.(mp4|mkv|avi|wmv|mov|m4v|flv|webm|ts|mpg|mpeg)\s*$", re.IGNORECASE)
_YEAR_IN_BRACKETS = re.compile(r"[(\[]\s*(19|20)\d{2}\s*[)\]]")


def _plain(title: str) -> str:
    text = _EXTENSION.sub("", title.translate(_LETTERS))
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


_TRAILING_YEAR = re.compile(r"\s*[(\[]?\b(19|20)\d{2}[)\]]?\s*$")


def fold(text: str) -> str:
    """A name as compared: case, accents, quotes and punctuation ignored."""
    text = _plain(text).translate(_QUOTES).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def fold_name(text: str) -> str:
    """A show's name as compared: ``fold``, and a trailing year ignored
    ("Harbour Films (2019)" is "Harbour Films")."""
    return fold(_TRAILING_YEAR.sub("", text.strip()))


def normalise(title: str) -> str:
    """Lower case, no accents, no quotes or punctuation, no release tags."""
    text = _plain(title).translate(_QUOTES).casefold()
    text = text.replace("&", " and ")
    text = _YEAR_IN_BRACKETS.sub(" ", text)
    text = re.sub(r"[._]+", " ", text)
    text = _RELEASE_TAGS.sub(" ", text)
    text = re.sub(r"[^\w\s]+", " ", text)
    return " ".join(text.split())


def search_text(title: str) -> str:
    """What to send as Stash's ``q``: the title without release tags, file
    extension or separators, keeping accents (Stash compares text as stored).

    Stash's ``q`` needs every word somewhere in the scene; a word with a
    quote in it keeps only its longest quote-free piece, so "Don't" finds
    "Don’t" too, and a leading ``-`` (Stash's "not") is dropped.
    """
    text = _EXTENSION.sub("", unicodedata.normalize("NFC", title))
    text = _YEAR_IN_BRACKETS.sub(" ", text)
    text = re.sub(r"[._]+", " ", text)
    text = _RELEASE_TAGS.sub(" ", text)
    words = []
    for word in text.split():
        if any(q in word for q in QUOTES):
            word = max(re.split("[" + re.escape(QUOTES) + "]", word), key=len)
        word = word.strip("-[](){}!?,;:#*~")
        if word and re.search(r"\w", word):
            words.append(word)
    return " ".join(words)


def fallback_word(title: str) -> str | None:
    """One distinctive word to search for when the whole title finds nothing."""
    words = [w for w in search_text(title).split() if w.isascii() and w.isalnum() and not w.isdigit() and len(w) >= 3]
    return max(words, key=len) if words else None


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
    return min(best, 0.99)
