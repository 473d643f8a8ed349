"""s2p.pyz: how it is built (reproducible, complete) and how it runs (first
start unpacks, later starts reuse, concurrent starts agree, clear refusals)."""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers import settings_data
import pyzrun
from pyzrun import REPO, PyzServer, build, clean_env, run, settings_env


builder = pyzrun.builder()
bootstrap = pyzrun.bootstrap()

ABI = bootstrap.interpreter_abi()
slow = pytest.mark.slow


def build_info(pyz: Path) -> dict:
    with zipfile.ZipFile(pyz) as zf:
        return json.loads(zf.read("_s2p_build.json"))


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime) for p in root.rglob("*")}


# ---------------------------------------------------------------- the build


@slow
def test_the_archive_is_complete_and_normalised(pyz):
    raw = pyz.read_bytes()
    assert raw.startswith(b"#!/usr/bin/env python3\n")
    assert os.stat(pyz).st_mode & 0o111, "the archive should be executable"
    with zipfile.ZipFile(pyz) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        info = json.loads(zf.read("_s2p_build.json"))
        assert names == sorted(names)
        assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
        assert not [n for n in names if n.split("/")[0] not in ("app", "lib", "native")
                    and n not in ("__main__.py", "_s2p_build.json", "LICENSE")]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.create_system for i in infos} == {3}
        assert {(i.external_attr >> 16) for i in infos} <= {0o100644, 0o100755}
        assert zf.read("__main__.py") == (REPO / "bundle" / "bootstrap.py").read_bytes()
        assert zf.read("app/s2p/cli/__init__.py") == (REPO / "s2p" / "cli" / "__init__.py").read_bytes()
        # Everything pure comes as py3-none-any: no native module outside native/.
        assert not [n for n in names if n.startswith("lib/") and ".so" in n]
        assert "lib/falcon/app.py" in names and "lib/charset_normalizer/md.py" in names
        # pydantic-core for every supported CPython, never the empty "any" placeholder.
        assert info["pythons"] == ["3.10", "3.11", "3.12", "3.13", "3.14"]
        assert sorted(abi.split("-")[1] for abi in info["native"]) == ["310", "311", "312", "313", "314"]
        for abi, so_files in info["native"].items():
            assert so_files == [f"pydantic_core/_pydantic_core.{abi}.so"]
            assert "native/" + so_files[0] in names
        assert ABI in info["native"], "the default build is for the machine it runs on"
        assert info["requirements"] == {name: pin.version for name, pin in builder.read_lock().items()}
        payload = hashlib.sha256(b"s2p-payload-1\0")
        for name in names:
            if name.startswith(("lib/", "native/")):
                data = zf.read(name)
                payload.update(f"{name}\0{len(data)}\0".encode())
                payload.update(data)
        assert info["payload"] == payload.hexdigest()


@slow
def test_two_builds_give_the_same_bytes(pyz, tmp_path):
    # Another umask and time zone must not matter either.
    again = build(tmp_path, env=clean_env(TZ="Asia/Tokyo"), umask=0o077)
    assert again.name == pyz.name == "s2p.pyz"
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(pyz.read_bytes()).hexdigest()


def test_source_date_epoch_sets_every_timestamp_and_is_clamped_to_1980(tmp_path):
    archive = builder.Archive({"b.txt": (b"b", 0o644), "a.py": (b"a", 0o755)}, {})
    epoch = builder.source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"})
    builder.write_archive(archive, tmp_path / "x.pyz", epoch)
    with zipfile.ZipFile(tmp_path / "x.pyz") as zf:
        assert [i.filename for i in zf.infolist()] == ["a.py", "b.txt"]
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    assert builder.source_date_epoch({"SOURCE_DATE_EPOCH": "0"}) == builder.ZIP_EPOCH_MIN
    assert builder.source_date_epoch({}) == builder.ZIP_EPOCH_MIN
    with pytest.raises(builder.BuildError, match="SOURCE_DATE_EPOCH"):
        builder.source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes():
    import tomllib

    from packaging.requirements import Requirement

    pins = builder.read_lock()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        pin = pins[builder.canonical(requirement.name)]
        assert requirement.specifier.contains(pin.version), (line, pin.version)
    # One pydantic-core wheel per platform and CPython the build knows.
    assert len(pins["pydantic-core"].hashes) == len(builder.PLATFORMS) * len(builder.PYTHONS)
    assert all(len(h) == 64 for pin in pins.values() for h in pin.hashes)


def test_an_unpinned_or_unhashed_lock_entry_is_refused(tmp_path):
    lock = tmp_path / "requirements.lock"
    for entry in ("falcon>=4", "falcon==4.4.0", "falcon==4.4.0 --hash=md5:abc"):
        lock.write_text(f"pydantic-core==2.0 \\\n    --hash=sha256:{'a' * 64}\n{entry}\n")
        with pytest.raises(builder.BuildError, match=re.escape(repr(entry))):
            builder.read_lock(lock)


# ---------------------------------------------------------------- the cache


@slow
def test_first_run_unpacks_and_the_second_reuses_the_copy(pyz, tmp_path):
    cache = tmp_path / "cache"
    first = run(pyz, "version", cache=cache)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"({pyz})"), "s2p's code must come from the archive"
    key = f"{build_info(pyz)['payload'][:16]}-{ABI}"
    assert entries(cache) == [key]
    copy = cache / key
    assert (copy / ".complete").exists()
    assert (copy / "pydantic_core" / f"_pydantic_core.{ABI}.so").exists()
    assert [p.name for p in (copy / "pydantic_core").glob("*.so")] == [f"_pydantic_core.{ABI}.so"]
    before = snapshot(cache)
    second = run(pyz, "version", cache=cache)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert snapshot(cache) == before, "a warm start must not unpack or write anything"


@slow
def test_packages_installed_beside_python_cannot_shadow_the_archives(pyz, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "pydantic").mkdir()
    (site / "pydantic" / "__init__.py").write_text("raise ImportError('the system pydantic was imported')\n")
    result = run(pyz, "version", cache=tmp_path / "cache", python=str(venv / "bin" / "python"))
    assert result.returncode == 0, result.stderr
    assert "the system pydantic" not in result.stderr


@pytest.mark.integration
@slow
def test_two_servers_starting_at_once_share_one_copy(pyz, tmp_path, fake_stash):
    cache = tmp_path / "cache"
    servers = [PyzServer(pyz, settings_env(settings_data(fake_stash.url, tmp_path / f"state{i}")), cache)
               for i in range(2)]
    for server in servers:  # both processes unpack at the same time
        server.launch()
    try:
        for server in servers:
            server.wait_ready()
            assert server.get("/").json()["MediaProvider"]["identifier"] == "tv.plex.agents.custom.s2p"
            match = server.match(type=1, filename="Harbour Films/2023-05-12 - Jane Doe - Office Affair.mp4")
            assert match.json()["MediaContainer"]["Metadata"][0]["ratingKey"] == "1"
    finally:
        logs = [server.stop() for server in servers]
    assert entries(cache) == [f"{build_info(pyz)['payload'][:16]}-{ABI}"], "one copy, no temporary leftovers"
    assert all("listening on" in log and "in Plex" in log for log in logs)  # the start-up lines


@slow
def test_many_cold_starts_at_once_all_succeed(pyz, tmp_path):
    cache = tmp_path / "cache"
    environ = clean_env(S2P_CACHE_DIR=str(cache))
    processes = [subprocess.Popen([sys.executable, "-I", str(pyz), "version"], env=environ,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in processes]
    assert [r[2] for r in results] == [0] * 3, results
    assert len({r[0] for r in results}) == 1
    assert entries(cache) == [f"{build_info(pyz)['payload'][:16]}-{ABI}"]


@slow
def test_unwritable_cache_falls_back_to_a_temporary_copy_removed_at_exit(pyz, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = run(pyz, "version", cache=blocker / "cache", env={"TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr
    assert "cannot use the cache directory" in result.stderr and "S2P_CACHE_DIR" in result.stderr
    assert list(temp.iterdir()) == [], "the temporary copy must be removed at exit"


@slow
def test_a_damaged_copy_is_replaced_and_force_extract_unpacks_again(pyz, tmp_path):
    cache = tmp_path / "cache"
    assert run(pyz, "version", cache=cache).returncode == 0
    copy = cache / f"{build_info(pyz)['payload'][:16]}-{ABI}"
    (copy / ".complete").unlink()
    shutil.rmtree(copy / "pydantic_core")
    result = run(pyz, "version", cache=cache)
    assert result.returncode == 0, result.stderr
    assert (copy / ".complete").exists() and (copy / "pydantic_core").is_dir()
    inode = (copy / ".complete").stat().st_ino
    result = run(pyz, "version", cache=cache, env={"S2P_FORCE_EXTRACT": "1"})
    assert result.returncode == 0, result.stderr
    assert (copy / ".complete").stat().st_ino != inode
    assert entries(cache) == [copy.name]


@slow
def test_old_copies_and_crash_leftovers_are_pruned(pyz, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    now = time.time()

    def make(name: str, age: float, complete: bool = True) -> None:
        directory = cache / name
        directory.mkdir()
        if complete:
            (directory / ".complete").write_text("x")
            os.utime(directory / ".complete", (now - age, now - age))
        os.utime(directory, (now - age, now - age))

    for i, age in enumerate((100, 200, 300)):
        make(f"{i:016x}-{ABI}", age)  # older archives' copies for this Python
    make(f"{9:016x}-cpython-399-other-abi", 1000)  # another interpreter's copy
    make(f".{5:016x}-{ABI}.crashed", 7200, complete=False)  # an unpack that died two hours ago
    make(f".{6:016x}-{ABI}.running", 10, complete=False)  # one that may still be going on
    (cache / "notes.txt").write_text("not ours")
    assert run(pyz, "version", cache=cache).returncode == 0
    assert entries(cache) == sorted([
        f".{6:016x}-{ABI}.running", f"{0:016x}-{ABI}", f"{1:016x}-{ABI}", f"{9:016x}-cpython-399-other-abi",
        f"{build_info(pyz)['payload'][:16]}-{ABI}", "notes.txt"])


# ---------------------------------------------------------------- refusals


@slow
def test_an_archive_for_another_machine_refuses_and_names_what_it_needs(tmp_path):
    other = "manylinux2014_aarch64" if platform.machine() != "aarch64" else "manylinux2014_x86_64"
    pyz = build(tmp_path, "--platform", other, "--python", "3.12")
    assert pyz.name == f"s2p-{other}-cp312.pyz"
    result = run(pyz, "version", cache=tmp_path / "cache")
    assert result.returncode == bootstrap.EXIT_REFUSED
    assert f"built for {other}" in result.stderr and "CPython 3.12" in result.stderr
    assert "this machine is" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "cache").exists(), "nothing is unpacked when the archive cannot run"


@functools.cache
def old_pythons() -> list[str]:
    """Interpreters older than 3.10 that this machine happens to have."""
    candidates = {shutil.which(f"python3.{minor}") for minor in range(4, 10)} | {shutil.which("python2")}
    candidates.update(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python")))
    found = []
    for candidate in sorted(c for c in candidates if c):
        try:
            code = "import sys; print(sys.version_info[0] * 100 + sys.version_info[1])"
            probe = subprocess.run([candidate, "-c", code], capture_output=True, text=True, timeout=20)
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.strip().isdigit() and int(probe.stdout) < 310:
            found.append(candidate)
    return found


@slow
@pytest.mark.skipif(not old_pythons(), reason="no Python older than 3.10 on this machine")
def test_old_pythons_are_refused_clearly(pyz, tmp_path):
    for python in old_pythons():
        result = subprocess.run([python, str(pyz), "version"], capture_output=True, text=True,
                                env=clean_env(S2P_CACHE_DIR=str(tmp_path / "cache")), timeout=60)
        assert result.returncode == bootstrap.EXIT_REFUSED, (python, result.stderr)
        assert "s2p needs CPython 3.10 or newer" in result.stderr, (python, result.stderr)
    assert not (tmp_path / "cache").exists()


BUILD = {"platform": "manylinux2014_x86_64", "machine": "x86_64", "libc": "glibc", "libc_label": "glibc 2.17+",
         "glibc_min": [2, 17], "pythons": ["3.11", "3.12"],
         "native": {"cpython-311-x86_64-linux-gnu": [], "cpython-312-x86_64-linux-gnu": []}}


@pytest.mark.parametrize("build, glibc, machine, abi, expected", [
    (BUILD, (2, 36), "aarch64", "cpython-311-x86_64-linux-gnu", "this machine is aarch64"),
    (BUILD, (2, 12), "x86_64", "cpython-311-x86_64-linux-gnu", "this system has glibc 2.12"),
    (BUILD, None, "x86_64", "cpython-311-x86_64-linux-gnu", "--platform musllinux_1_2_x86_64"),
    (BUILD, (2, 36), "x86_64", "cpython-313-x86_64-linux-gnu", "built for cpython-313-x86_64-linux-gnu"),
    ({**BUILD, "platform": "musllinux_1_2_x86_64", "libc": "musl", "libc_label": "musl 1.2+"}, (2, 36), "x86_64",
     "cpython-311-x86_64-linux-gnu", "use the manylinux2014_x86_64 build"),
])
def test_platform_refusals_say_what_is_needed(monkeypatch, build, glibc, machine, abi, expected):
    monkeypatch.setattr(bootstrap, "glibc_version", lambda: glibc)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(bootstrap.Refusal) as refused:
        bootstrap.check_platform(build, abi)
    assert expected in str(refused.value)
    assert f"built for {build['platform']}" in str(refused.value) and "CPython 3.11, 3.12" in str(refused.value)


def test_the_matching_platform_passes(monkeypatch):
    monkeypatch.setattr(bootstrap, "glibc_version", lambda: (2, 17))
    monkeypatch.setattr(platform, "machine", lambda: "AMD64")
    monkeypatch.setattr(sys, "platform", "linux")
    bootstrap.check_platform(BUILD, "cpython-312-x86_64-linux-gnu")


@pytest.mark.parametrize("environ, expected", [
    ({"S2P_CACHE_DIR": "/a", "CACHE_DIRECTORY": "/b", "XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/a"),
    ({"CACHE_DIRECTORY": "/b:/b2", "XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/b"),
    ({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/s2p"),
    ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/s2p"),
    ({"HOME": "/h"}, "/h/.cache/s2p"),
])
def test_cache_root_order(environ, expected):
    assert bootstrap.cache_root(environ)[0] == expected


@slow
def test_the_archive_stops_on_a_busy_port_in_one_line(pyz, pyz_cache):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(pyz, "demo", "--port", str(port), cache=pyz_cache)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "Fix:" in lines[0], result.stderr


@slow
def test_the_archive_prints_the_example_configuration(pyz, pyz_cache):
    result = run(pyz, "init", "--example", cache=pyz_cache)
    assert result.returncode == 0 and result.stdout == (REPO / "s2p.toml.example").read_text(encoding="utf-8")
