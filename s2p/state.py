"""s2p's state directory: what must survive restarts lives here."""

from __future__ import annotations

import os
from pathlib import Path


class StateDirError(Exception):
    pass


def ensure_state_dir(path: str | os.PathLike) -> Path:
    """Create the directory (owner-only) if needed and check it is writable."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StateDirError(f"cannot create the state directory {directory}: {exc.strerror}. "
                            "Fix: set [state] dir (S2P_STATE_DIR) to a writable directory") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StateDirError(f"the state directory {directory} is not writable. "
                            "Fix: set [state] dir (S2P_STATE_DIR) to a writable directory")
    return directory


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file so that a crash leaves either the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
