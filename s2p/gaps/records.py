"""The shapes gap detection works on: plain, immutable data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

PLEX_ONLY = "plex_only"
STASH_ONLY = "stash_only"
MATCHED_ELSEWHERE = "matched_elsewhere"
STALE = "stale"
NO_MATCH = "no_match"
AMBIGUOUS = "ambiguous"

# Found by the full comparison: resolved when a complete comparison no longer finds them.
COMPARED_KINDS = (PLEX_ONLY, STASH_ONLY, MATCHED_ELSEWHERE, STALE)
# Recorded while Plex scans: resolved when the file matches later, or leaves Plex.
OBSERVED_KINDS = (NO_MATCH, AMBIGUOUS)
KINDS = COMPARED_KINDS + OBSERVED_KINDS

LABELS = {
    PLEX_ONLY: "In Plex, not in Stash",
    STASH_ONLY: "In Stash, not in Plex",
    MATCHED_ELSEWHERE: "Not matched by s2p",
    STALE: "Changed in Stash since Plex fetched it",
    NO_MATCH: "No match when Plex scanned",
    AMBIGUOUS: "Ambiguous when Plex scanned",
}

# What a person can do about each kind (shown in the report).
ADVICE = {
    PLEX_ONLY: "Plex has these files but Stash does not: scan them in Stash, or check the path rules "
               "if Stash has them under another path.",
    STASH_ONLY: "Stash has these scenes under a folder of a Plex library, but Plex does not: scan that "
                "folder in Plex. In a TV library Plex's scanner adds only files named like episodes: "
                "`s2p tv-layout` prints names it takes.",
    MATCHED_ELSEWHERE: "Plex did not match these items with s2p (another agent, no match at all, or a "
                       "scene Stash no longer has): use Fix Match, or Refresh Metadata.",
    STALE: "The scene changed in Stash after Plex last fetched its metadata: Refresh Metadata on the item "
           "(or set [gaps] refresh_stale = true).",
    NO_MATCH: "When Plex scanned these files, s2p found no scene for them: check the path rules, or use "
              "`s2p match --filename ...` to see why.",
    AMBIGUOUS: "When Plex scanned these files, several scenes fitted equally well: use Fix Match to pick one.",
}


@dataclass(frozen=True)
class Gap:
    """One disagreement.  ``(kind, key)`` names it across runs; ``version``
    changes when the item changes (a dismissed gap comes back then)."""

    kind: str
    key: str
    reason: str
    version: str
    plex_path: str | None = None
    stash_path: str | None = None
    scene_id: str | None = None
    rating_key: str | None = None
    section: str | None = None
    title: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def digest(*parts: object) -> str:
    """A short, stable summary of what an item looked like."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
