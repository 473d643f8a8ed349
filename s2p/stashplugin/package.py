"""The plugin source: ``index.yml`` and the zip it names.

Stash's server downloads both (``pkg/pkg/repository_http.go``), so the
``Host`` of those requests is the address Stash reaches s2p at: it goes into
the zip with the token, and the bridge calls s2p there.  The zip is
deterministic (sorted entries, fixed times and modes, one compression
level): the same content gives the same bytes and the same sha256.  Stash
offers an update when an index's ``date`` is after the installed one
(``PackageVersion.Upgradable``), so the date of each address's zip is kept
in the state directory and moves on only when the zip's content changes (a
new s2p version, a new token, a new address).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from s2p.common.statedir import ensure_state_dir, write_atomically

PLUGIN_ID = "s2p"  # Stash takes the id from the name of <id>.yml in the zip
ZIP_NAME = "s2p.zip"
CONNECTION_FILE = "s2p_connection.json"
# The plugin's own files, package data next to this module.
FILES = ("s2p.yml", "s2p.js", "s2p.css", "s2p_bridge.py")
STAMPS_FILE = "stash-plugin.json"
STAMPS_KEPT = 16  # addresses whose zip dates are remembered
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say
COMPRESSLEVEL = 6
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # Stash's pkg.TimeFormat, in UTC
DESCRIPTION = ("What Plex knows of each scene (a Plex tab on the scene page) and the gap report between Plex "
               "and Stash, from s2p.")


def plugin_files(version: str) -> dict[str, bytes]:
    """The plugin's files as the zip carries them (the manifest gets s2p's version)."""
    folder = resources.files("s2p.stashplugin").joinpath("plugin")
    files = {name: folder.joinpath(name).read_bytes() for name in FILES}
    files["s2p.yml"] = files["s2p.yml"].replace(b"@VERSION@", version.encode("ascii"))
    return files


def build_zip(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` whose bytes depend on nothing else."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, whatever machine builds it
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL)
    return out.getvalue()


def connection_file(base_url: str, token: str) -> bytes:
    """What the bridge reads: where s2p is and the token it sends."""
    return (json.dumps({"url": base_url, "token": token}, indent=2, sort_keys=True) + "\n").encode("utf-8")


def index_yml(*, version: str, date: str, sha256: str, path: str = ZIP_NAME) -> str:
    """The plugin source's index: one package.  Strings are written as JSON
    strings, which YAML reads as double-quoted scalars."""
    q = json.dumps
    return (f"- id: {q(PLUGIN_ID)}\n"
            f"  name: {q('s2p (Plex)')}\n"
            f"  metadata:\n"
            f"    description: {q(DESCRIPTION)}\n"
            f"  version: {q(version)}\n"
            f"  date: {q(date)}\n"
            f"  path: {q(path)}\n"
            f"  sha256: {q(sha256)}\n")


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes
    sha256: str
    date: float  # epoch seconds, whole

    @property
    def date_text(self) -> str:
        return time.strftime(DATE_FORMAT, time.gmtime(self.date))

    def index(self, version: str) -> str:
        return index_yml(version=version, date=self.date_text, sha256=self.sha256)


class Stamps:
    """address -> (sha256 of its zip, the zip's date), in the state directory.

    A zip whose content is new gets the time it was first built, and always
    a later date than the one it replaces, so Stash sees an update."""

    def __init__(self, state_dir: str | os.PathLike, clock: Callable[[], float] = time.time):
        self._state_dir = state_dir
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return Path(self._state_dir) / STAMPS_FILE

    def date_of(self, address: str, sha256: str) -> float:
        with self._lock:
            stamps = self._read()
            known = stamps.get(address)
            if known and known.get("sha256") == sha256 and isinstance(known.get("date"), (int, float)):
                return float(known["date"])
            previous = float(known["date"]) if known and isinstance(known.get("date"), (int, float)) else 0.0
            date = float(max(int(self._clock()), int(previous) + 1))
            stamps[address] = {"sha256": sha256, "date": date}
            if len(stamps) > STAMPS_KEPT:
                for old in sorted(stamps, key=lambda a: stamps[a].get("date", 0))[:len(stamps) - STAMPS_KEPT]:
                    del stamps[old]
            directory = ensure_state_dir(self._state_dir)
            write_atomically(directory / STAMPS_FILE, (json.dumps(stamps, indent=1, sort_keys=True) + "\n").encode())
            return date

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or damaged: the next write replaces it
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


class PluginSource:
    """Builds the package for the address a request came in by."""

    def __init__(self, version: str, token: Callable[[], str], stamps: Stamps):
        self.version = version
        self._token = token
        self._stamps = stamps
        self._files: dict[str, bytes] | None = None
        self._built: dict[str, tuple[str, bytes, str]] = {}  # base URL -> (token, zip, sha256)
        self._lock = threading.Lock()

    def package(self, base_url: str) -> Package:
        token = self._token()
        with self._lock:
            if self._files is None:
                self._files = plugin_files(self.version)
            built = self._built.get(base_url)
            if built is None or built[0] != token:
                data = build_zip({**self._files, CONNECTION_FILE: connection_file(base_url, token)})
                built = (token, data, hashlib.sha256(data).hexdigest())
                if len(self._built) >= STAMPS_KEPT:
                    self._built.clear()
                self._built[base_url] = built
        _token, data, sha256 = built
        # The state file names addresses by a digest: a secret root stays out of it.
        address = hashlib.sha256(base_url.encode("utf-8")).hexdigest()[:24]
        return Package(data, sha256, self._stamps.date_of(address, sha256))
