#!/usr/bin/env python3
"""Build s2p.pyz: one file that runs s2p with ``python3 s2p.pyz [command]``.

    python3 build_zipapp.py                       # this machine's platform -> dist/s2p.pyz
    python3 build_zipapp.py --platform manylinux2014_aarch64 --platform musllinux_1_2_x86_64
                                                  # -> dist/s2p-<platform>.pyz, one per platform
    python3 build_zipapp.py --python 3.12 --output dist/s2p.pyz
                                                  # only one CPython (container images)
    python3 build_zipapp.py --update-lock         # re-pin requirements.lock from pyproject.toml

Needs only the standard library and pip (CPython 3.10+).  Every dependency
comes from requirements.lock, pinned by version and sha256; pip downloads the
wheels into build/wheels (kept between builds) and checks their hashes.

An archive carries s2p's code (imported straight from the zip), every pure
dependency as its py3-none-any wheel (falcon and charset-normalizer
included, so neither brings a native module), and pydantic-core, the one
dependency that exists only as native code, built for each CPython 3.10-3.14
on one platform: the user need not know which Python their NAS has, only
its CPU and C library.  bundle/bootstrap.py (the archive's __main__.py)
unpacks the dependencies into a cache on first run.

The output is reproducible: entries sorted, timestamps from
SOURCE_DATE_EPOCH (default and minimum 1980-01-01), modes normalised, no
bytecode.  Same lock, same sources, same zlib: same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LOCK = ROOT / "requirements.lock"
WHEELHOUSE = ROOT / "build" / "wheels"
DIST = ROOT / "dist"
BOOTSTRAP = ROOT / "bundle" / "bootstrap.py"
BUILD_INFO = "_s2p_build.json"
FORMAT = 1  # of the archive's layout; part of the payload hash
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# Dependencies that exist only as native code.  pydantic-core's "any" wheel
# is an empty placeholder, so it is never resolved for --platform any.
NATIVE = ("pydantic-core",)
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: a zip's DOS timestamps cannot go earlier
COMPRESSLEVEL = 6  # 9 takes twice as long for 0.4% less
# Left out of every unpacked wheel: installer records that name the
# build machine's paths or tools, and nothing at run time reads.
SKIPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class Platform:
    name: str
    machine: str
    libc: str  # "glibc" or "musl"
    # In native module names: _pydantic_core.cpython-311-<triplet>.so.  CPython
    # 3.10 on musl still calls itself -linux-gnu, and so do its wheels.
    triplets: tuple[str, ...]
    wheel_tags: tuple[str, ...]  # wheel platform tags that run there, newest first
    glibc_min: tuple[int, int] | None = None

    @property
    def libc_label(self) -> str:
        return f"glibc {self.glibc_min[0]}.{self.glibc_min[1]}+" if self.glibc_min else "musl 1.2+"


PLATFORMS = {p.name: p for p in (
    Platform("manylinux2014_x86_64", "x86_64", "glibc", ("x86_64-linux-gnu",),
             ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux2010_x86_64",
              "manylinux_2_12_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"), (2, 17)),
    Platform("manylinux2014_aarch64", "aarch64", "glibc", ("aarch64-linux-gnu",),
             ("manylinux2014_aarch64", "manylinux_2_17_aarch64"), (2, 17)),
    Platform("musllinux_1_2_x86_64", "x86_64", "musl", ("x86_64-linux-musl", "x86_64-linux-gnu"),
             ("musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64")),
    Platform("musllinux_1_2_aarch64", "aarch64", "musl", ("aarch64-linux-musl", "aarch64-linux-gnu"),
             ("musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64")),
)}


# ---------------------------------------------------------------- requirements


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    hashes: frozenset[str]

    @property
    def native(self) -> bool:
        return self.name in NATIVE


def read_lock(path: Path = LOCK) -> dict[str, Pin]:
    if not path.exists():
        raise BuildError(f"{path} is missing. Fix: python3 build_zipapp.py --update-lock")
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", tokens[0])
        hashes = frozenset(t.split(":", 1)[1] for t in tokens[1:] if t.startswith("--hash=sha256:"))
        if not m or not hashes or len(hashes) != len(tokens) - 1:
            raise BuildError(f"{path}: expected NAME==VERSION --hash=sha256:..., got {line!r}")
        pins[canonical(m.group(1))] = Pin(canonical(m.group(1)), m.group(2), hashes)
    missing = [name for name in NATIVE if name not in pins]
    if missing:
        raise BuildError(f"{path} does not pin {', '.join(missing)}")
    return pins


def write_lock(pins: dict[str, Pin], path: Path = LOCK) -> None:
    lines = [
        "# s2p's runtime dependencies inside s2p.pyz, pinned with the sha256 of every wheel",
        "# build_zipapp.py may use: the pure-Python wheel of each, and pydantic-core for every",
        "# platform and CPython it builds for.  Regenerate after changing the dependencies in",
        "# pyproject.toml with: python3 build_zipapp.py --update-lock",
    ]
    for name in sorted(pins):
        pin = pins[name]
        hashes = " \\\n".join(f"    --hash=sha256:{h}" for h in sorted(pin.hashes))
        lines.append(f"{name}=={pin.version} \\\n{hashes}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- wheels


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str
    version: str
    pythons: frozenset[str]
    abis: frozenset[str]
    platforms: frozenset[str]

    @classmethod
    def parse(cls, path: Path) -> "Wheel | None":
        parts = path.name[:-len(".whl")].split("-") if path.name.endswith(".whl") else []
        if len(parts) not in (5, 6):
            return None
        py, abi, plat = parts[-3:]
        return cls(path, canonical(parts[0]), parts[1], frozenset(py.split(".")), frozenset(abi.split(".")),
                   frozenset(plat.split(".")))


@dataclass(frozen=True)
class Want:
    """One wheel a build needs, and how pip is asked for it."""

    pin: Pin
    python: str | None = None  # for native wheels
    platform: Platform | None = None

    def accepts(self, wheel: Wheel) -> bool:
        if wheel.name != self.pin.name or wheel.version != self.pin.version:
            return False
        if self.platform is None:
            return "none" in wheel.abis and "any" in wheel.platforms and "py3" in wheel.pythons
        tag = "cp" + self.python.replace(".", "")
        return tag in wheel.pythons and tag in wheel.abis and bool(wheel.platforms & set(self.platform.wheel_tags))

    def pip_args(self) -> list[str]:
        if self.platform is None:
            return ["--platform", "any", "--implementation", "py", "--abi", "none", "--python-version", "3.10"]
        args = ["--implementation", "cp", "--python-version", self.python,
                "--abi", "cp" + self.python.replace(".", "")]
        for tag in self.platform.wheel_tags:
            args += ["--platform", tag]
        return args


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Wheelhouse:
    """A directory of downloaded wheels; only files whose hash the lock names are used."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._hashes: dict[Path, str] = {}

    def find(self, want: Want) -> Path | None:
        if not self.directory.is_dir():
            return None
        for path in sorted(self.directory.glob("*.whl")):
            wheel = Wheel.parse(path)
            if wheel and want.accepts(wheel):
                if path not in self._hashes:
                    self._hashes[path] = sha256_file(path)
                if self._hashes[path] in want.pin.hashes:
                    return path
        return None

    def fetch(self, wants: list[Want]) -> dict[Want, Path]:
        """Every wanted wheel, downloading (hash-checked) the ones not here yet."""
        found = {want: self.find(want) for want in wants}
        groups: dict[tuple[str, ...], list[Want]] = {}
        for want, path in found.items():
            if path is None:
                groups.setdefault(tuple(want.pip_args()), []).append(want)
        for args, group in groups.items():
            requirements = [f"{w.pin.name}=={w.pin.version} "
                            + " ".join(f"--hash=sha256:{h}" for h in sorted(w.pin.hashes)) for w in group]
            pip_download(requirements, list(args), self.directory, hashes=True)
            for want in group:
                found[want] = self.find(want)
                if found[want] is None:
                    where = f"CPython {want.python} on {want.platform.name}" if want.platform else "any platform"
                    raise BuildError(f"pip found no wheel of {want.pin.name}=={want.pin.version} for {where}")
        return found  # type: ignore[return-value]


def pip_download(requirements: list[str], tag_args: list[str], dest: Path, *, hashes: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        reqfile = Path(tmp) / "requirements.txt"
        reqfile.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                   "--no-deps", "--only-binary=:all:", "--dest", str(dest), "-r", str(reqfile)] + tag_args
        if hashes:
            command.append("--require-hashes")
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError("pip download failed:\n  " + " ".join(command) + "\n" + result.stdout + result.stderr)


def wheel_files(path: Path) -> dict[str, bytes]:
    """A wheel's files as they would be installed (both trees are plain purelib/platlib)."""
    files = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            parts = name.split("/")
            if parts[0].endswith(".data"):
                raise BuildError(f"{path.name} has a {parts[0]}/ directory (scripts, headers or data), "
                                 "which this build does not install")
            if parts[0].endswith(".dist-info") and len(parts) == 2 and parts[1] in SKIPPED_METADATA:
                continue
            if "__pycache__" in parts or name.endswith((".pyc", ".pyo")) or ".." in parts or name.startswith("/"):
                continue
            files[name] = zf.read(info)
    return files


# ---------------------------------------------------------------- building


@dataclass
class Archive:
    """Everything that goes into one s2p.pyz."""

    entries: dict[str, tuple[bytes, int]]  # name -> (bytes, mode)
    info: dict

    def payload_hash(self) -> str:
        digest = hashlib.sha256(f"s2p-payload-{FORMAT}\0".encode())
        for name in sorted(self.entries):
            if name.startswith(("lib/", "native/")):
                data = self.entries[name][0]
                digest.update(f"{name}\0{len(data)}\0".encode())
                digest.update(data)
        return digest.hexdigest()


def source_version() -> str:
    text = (ROOT / "s2p" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not m:
        raise BuildError("s2p/__init__.py has no __version__")
    return m.group(1)


def app_entries() -> dict[str, tuple[bytes, int]]:
    """s2p's own modules: Python sources and package data (editor and bytecode files stay out)."""
    entries = {}
    package = ROOT / "s2p"
    for path in sorted(package.rglob("*")):
        data = path.relative_to(package).parts[:2] == ("stashplugin", "plugin")  # the Stash plugin's files
        if path.is_file() and "__pycache__" not in path.parts and (
                path.suffix == ".py" or path.name in ("py.typed", "s2p.toml.example") or data):
            entries["app/" + path.relative_to(ROOT).as_posix()] = (path.read_bytes(), 0o644)
    return entries


def mode_for(name: str) -> int:
    return 0o755 if name.endswith(".so") else 0o644


def assemble(target: Platform, pythons: list[str], pins: dict[str, Pin], wheelhouse: Wheelhouse) -> Archive:
    pure = [Want(pin) for pin in pins.values() if not pin.native]
    native = [Want(pin, python, target) for pin in pins.values() if pin.native for python in pythons]
    wheels = wheelhouse.fetch(pure + native)
    entries: dict[str, tuple[bytes, int]] = {}
    for want in pure:
        for name, data in wheel_files(wheels[want]).items():
            if "lib/" + name in entries:
                raise BuildError(f"{name} is in two wheels ({wheels[want].name} and another)")
            entries["lib/" + name] = (data, mode_for(name))
    merged: dict[str, bytes] = {}
    conflicting: set[str] = set()
    natives: dict[str, list[str]] = {}
    for want in native:
        for name, data in wheel_files(wheels[want]).items():
            if name in merged and merged[name] != data:
                if ".dist-info/" not in name:
                    raise BuildError(f"{name} differs between the {want.pin.name} wheels of two Pythons")
                conflicting.add(name)  # e.g. WHEEL, which names each wheel's own tag
            merged[name] = data
            m = re.search(r"\.(cpython-(3\d+)-([a-z0-9_]+-linux-[a-z]+))\.so$", name)
            if m:
                if m.group(2) != want.python.replace(".", "") or m.group(3) not in target.triplets:
                    raise BuildError(f"{wheels[want].name}: {name} is not built for CPython {want.python} "
                                     f"on {target.name}")
                natives.setdefault(m.group(1), []).append(name)
    for name, data in merged.items():
        if name not in conflicting:
            entries["native/" + name] = (data, mode_for(name))
    found = sorted(abi.split("-")[1] for abi in natives)
    if found != sorted(p.replace(".", "") for p in pythons):
        raise BuildError(f"native modules found for {sorted(natives)}, expected one for each of CPython "
                         f"{', '.join(pythons)}")
    entries.update(app_entries())
    entries["__main__.py"] = (BOOTSTRAP.read_bytes(), 0o644)
    license_file = ROOT / "LICENSE"
    if license_file.exists():
        entries["LICENSE"] = (license_file.read_bytes(), 0o644)
    top_level = sorted({name.split("/")[1].removesuffix(".py") for name in entries
                        if name.startswith(("lib/", "native/")) and not name.split("/")[1].endswith(".dist-info")
                        and (name.count("/") > 1 or name.endswith(".py"))})
    archive = Archive(entries, {})
    archive.info = {
        "format": FORMAT,
        "s2p": source_version(),
        "platform": target.name,
        "machine": target.machine,
        "libc": target.libc,
        "libc_label": target.libc_label,
        "glibc_min": list(target.glibc_min) if target.glibc_min else None,
        "pythons": list(pythons),
        "native": {abi: sorted(names) for abi, names in sorted(natives.items())},
        "payload": archive.payload_hash(),
        "requirements": {name: pins[name].version for name in sorted(pins)},
        "top_level": top_level,
    }
    entries[BUILD_INFO] = (json.dumps(archive.info, indent=1, sort_keys=True).encode() + b"\n", 0o644)
    return archive


def source_date_epoch(environ=os.environ) -> int:
    value = environ.get("SOURCE_DATE_EPOCH", "")
    try:
        epoch = int(value) if value else ZIP_EPOCH_MIN
    except ValueError:
        raise BuildError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds") from None
    # DOS timestamps run from 1980 to 2107.
    return min(max(epoch, ZIP_EPOCH_MIN), 4354819199)


def write_archive(archive: Archive, output: Path, epoch: int) -> None:
    date_time = time.gmtime(epoch)[:6]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(archive.entries):
            data, mode = archive.entries[name]
            info = zipfile.ZipInfo(name, date_time)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=COMPRESSLEVEL)
    tmp.write_bytes(buffer.getvalue())
    os.chmod(tmp, 0o755)
    os.replace(tmp, output)


def running_platform() -> Platform:
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    libc = f"manylinux2014_{machine}" if glibc else f"musllinux_1_2_{machine}"
    name = libc if sys.platform.startswith("linux") else ""
    if name not in PLATFORMS:
        raise BuildError(f"this machine ({platform.system()} {platform.machine()}) is not a platform s2p.pyz "
                         f"runs on; name one with --platform: {', '.join(PLATFORMS)}")
    return PLATFORMS[name]


def output_name(target: Platform, pythons: list[str], named: bool) -> str:
    name = "s2p"
    if named:
        name += "-" + target.name
    if list(pythons) != list(PYTHONS):
        name += "".join("-cp" + p.replace(".", "") for p in pythons)
    return name + ".pyz"


def build(platforms: list[str], pythons: list[str], output: Path | None, dist: Path, wheelhouse: Path,
          lock: Path = LOCK) -> list[Path]:
    pins = read_lock(lock)
    targets = [PLATFORMS[p] for p in platforms] if platforms else [running_platform()]
    if output and len(targets) > 1:
        raise BuildError("--output names one file; give one --platform with it")
    house = Wheelhouse(wheelhouse)
    epoch = source_date_epoch()
    built = []
    for target in targets:
        archive = assemble(target, pythons, pins, house)
        path = output or dist / output_name(target, pythons, bool(platforms))
        write_archive(archive, path, epoch)
        size = path.stat().st_size
        print(f"{path}: {size / 2**20:.2f} MiB, sha256 {sha256_file(path)}, {target.name} ({target.libc_label}), "
              f"CPython {', '.join(pythons)}")
        built.append(path)
    return built


# ---------------------------------------------------------------- the lock


def project_dependencies() -> list[str]:
    try:
        import tomllib
    except ImportError:
        raise BuildError("--update-lock reads pyproject.toml with tomllib: run it with Python 3.11+") from None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # Markers are dropped: the archive serves every supported Python, so a
    # dependency needed on any of them (tomli on 3.10) goes in.
    return [dep.split(";", 1)[0].strip() for dep in project["dependencies"]]


def update_lock(lock: Path = LOCK, wheelhouse: Path = WHEELHOUSE) -> None:
    dependencies = project_dependencies()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
                   "--ignore-installed", "--report", str(report), "--only-binary=:all:",
                   "--platform", "manylinux2014_x86_64", "--python-version", PYTHONS[0], "--implementation", "cp",
                   "--abi", "cp" + PYTHONS[0].replace(".", ""), "--target", str(Path(tmp) / "target")] + dependencies
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError("pip could not resolve the dependencies:\n" + result.stdout + result.stderr)
        resolved = {canonical(item["metadata"]["name"]): item["metadata"]["version"]
                    for item in json.loads(report.read_text())["install"]}
        downloads = Path(tmp) / "wheels"
        pure = [f"{name}=={version}" for name, version in sorted(resolved.items()) if name not in NATIVE]
        pip_download(pure, Want(Pin("", "", frozenset())).pip_args(), downloads, hashes=False)
        for name in NATIVE:
            for target in PLATFORMS.values():
                for python in PYTHONS:
                    args = Want(Pin(name, "", frozenset()), python, target).pip_args()
                    pip_download([f"{name}=={resolved[name]}"], args, downloads, hashes=False)
        hashes: dict[str, set[str]] = {name: set() for name in resolved}
        wheelhouse.mkdir(parents=True, exist_ok=True)
        for path in sorted(downloads.glob("*.whl")):
            wheel = Wheel.parse(path)
            if wheel and wheel.name in hashes and wheel.version == resolved[wheel.name]:
                hashes[wheel.name].add(sha256_file(path))
                os.replace(path, wheelhouse / path.name)
        empty = [name for name, found in hashes.items() if not found]
        if empty:
            raise BuildError(f"no wheel downloaded for {', '.join(empty)}")
    write_lock({name: Pin(name, resolved[name], frozenset(found)) for name, found in hashes.items()}, lock)
    print(f"{lock}: {len(resolved)} packages pinned: "
          + ", ".join(f"{name}=={version}" for name, version in sorted(resolved.items())))


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build s2p.pyz, a single-file s2p for python3.")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS), default=[],
                        help="build for this platform into dist/s2p-PLATFORM.pyz (repeatable; default: this "
                             "machine's, into dist/s2p.pyz)")
    parser.add_argument("--python", action="append", choices=PYTHONS, default=[],
                        help="carry native modules only for this CPython (repeatable; default: all of "
                             f"{', '.join(PYTHONS)})")
    parser.add_argument("--output", type=Path, help="write the archive here (one platform only)")
    parser.add_argument("--dist", type=Path, default=DIST, help="directory for the archives (default: dist/)")
    parser.add_argument("--wheels", type=Path, default=WHEELHOUSE,
                        help="directory where downloaded wheels are kept (default: build/wheels/)")
    parser.add_argument("--lock", type=Path, default=LOCK, help="the lock file (default: requirements.lock)")
    parser.add_argument("--update-lock", action="store_true",
                        help="resolve pyproject.toml's dependencies again and rewrite the lock file")
    args = parser.parse_args(argv)
    try:
        if args.update_lock:
            update_lock(args.lock, args.wheels)
            return 0
        pythons = [p for p in PYTHONS if p in args.python] or list(PYTHONS)
        build(args.platform, pythons, args.output, args.dist, args.wheels, args.lock)
    except BuildError as exc:
        print(f"build_zipapp.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
