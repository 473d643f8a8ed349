"""s2p's state directory: what must survive restarts lives here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable


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


def read_or_create(path: Path, make: Callable[[], bytes], mode: int = 0o600) -> bytes:
    """The file's content; if it does not exist, create it with ``make()``.

    Two processes starting at once end up with the same content: the new
    file is written completely under a temporary name and then hard-linked
    into place, which fails (rather than overwrites) when another process
    got there first.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(make())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # File systems without hard links: a plain rename (last one wins,
            # which only matters if two processes start in the same instant).
            if not path.exists():
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


OWNER_FILE = "serving"


def claim(directory: str | os.PathLike, configuration: str) -> None:
    """Say that the server now running from ``configuration`` uses this
    state directory (read by one-off commands before they write)."""
    path = ensure_state_dir(directory) / OWNER_FILE
    write_atomically(path, json.dumps({"configuration": configuration, "pid": os.getpid()}).encode("utf-8"))


def release(directory: str | os.PathLike) -> None:
    """This server stops: its claim goes (if it is still this process's)."""
    path = Path(directory) / OWNER_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def held_by_another(directory: str | os.PathLike, configuration: str,
                    alive: Callable[[int], bool] | None = None) -> str | None:
    """The configuration of a running server that uses this state directory,
    when it is not ``configuration``; else None."""
    try:
        owner = json.loads((Path(directory) / OWNER_FILE).read_text(encoding="utf-8"))
        other, pid = str(owner["configuration"]), int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if other == configuration or pid == os.getpid():
        return None
    return other if (alive or _alive)(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    return True
