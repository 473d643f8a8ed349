"""Stash2Plex's ``sync_timestamps.json``: when it last pushed each scene to
Plex (scene id -> Unix epoch seconds), read as a second source of sync
times for users who run both."""

from __future__ import annotations

import json
import math
from pathlib import Path

# The file is small (one number per scene); refuse anything absurd.
MAX_BYTES = 64 * 1024 * 1024


def load_sync_timestamps(path: str) -> tuple[dict[str, float], str | None]:
    """(scene id -> epoch seconds, problem or None).  A file that cannot be
    used gives no times and a sentence saying why; it never stops a run."""
    if not path:
        return {}, None
    file = Path(path)
    where = f"[gaps] sync_timestamps {path}"
    try:
        if file.stat().st_size > MAX_BYTES:
            return {}, f"{where} is larger than {MAX_BYTES} bytes; ignored"
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{where} does not exist. Fix: point it at Stash2Plex's data/sync_timestamps.json"
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"{where} cannot be read ({type(exc).__name__})"
    except ValueError as exc:
        return {}, f"{where} is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return {}, f"{where} is not a JSON object of scene id -> time"
    times: dict[str, float] = {}
    skipped = 0
    for key, value in data.items():
        scene_id = str(key).strip()
        if scene_id.isdigit() and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value > 0:
            times[str(int(scene_id))] = float(value)
        else:
            skipped += 1
    problem = f"{where}: {skipped} entr{'y' if skipped == 1 else 'ies'} ignored (not scene id -> epoch seconds)" \
        if skipped else None
    return times, problem
