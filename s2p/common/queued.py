"""Entries of s2p's work queues (artwork push, live sync): a scene's id, or
a TV show's as ``show-<id>`` (Stash's ids are digits, so the two never meet)."""

from __future__ import annotations

SHOW = "show-"


def show_entry(show_id: str) -> str:
    return SHOW + show_id


def show_of(entry: str) -> str | None:
    """The show id of a TV show's entry; ``None`` for a scene's."""
    return entry[len(SHOW):] if entry.startswith(SHOW) else None


def label(entry: str) -> str:
    """An entry as the log names it: ``scene 12`` or ``TV show 3``."""
    show = show_of(entry)
    return f"TV show {show}" if show is not None else f"scene {entry}"
