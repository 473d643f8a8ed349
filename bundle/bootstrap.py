# -*- coding: utf-8 -*-
"""The entry point of s2p.pyz (copied into the archive as ``__main__.py``).

Standard library only, and written so that it parses on any Python: an old
interpreter must get a clear refusal, not a SyntaxError.

s2p's own code is imported straight from the archive.  Its dependencies are
unpacked once into a cache directory named after their hash and the running
interpreter, because native extension modules (pydantic-core) cannot be
imported from a zip, and because zipimport never caches bytecode (pure
dependencies left in the zip would be compiled again on every start).

The cache root is the first of: $S2P_CACHE_DIR, $CACHE_DIRECTORY (systemd's
CacheDirectory=), $XDG_CACHE_HOME/s2p, ~/.cache/s2p.  When it cannot be
written, a temporary directory is used for this run and removed at exit.

``python3 s2p.pyz prepare`` unpacks and byte-compiles ahead of time (for
container images and read-only systems) and exits.
"""

import os
import re
import sys

MIN_PYTHON = (3, 10)
BUILD_INFO = "_s2p_build.json"
COMPLETE = ".complete"
# Finished copies kept per interpreter besides the current one: an s2p
# started from an older archive may still be running from its copy.
KEEP_OLD = 2
# An unfinished unpack older than this is a crash leftover.
STALE_SECONDS = 3600
# Exit status for "this archive cannot run here"; systemd's unit does not
# restart on it (RestartPreventExitStatus=).
EXIT_REFUSED = 3
# Only entries named like ours are ever removed from the cache root, so
# pointing S2P_CACHE_DIR at a shared directory loses nothing else.
_OURS = re.compile(r"^[0-9a-f]{16}-[A-Za-z0-9_.-]+$")
_OURS_UNFINISHED = re.compile(r"^\.[0-9a-f]{16}-[A-Za-z0-9_.-]+$")


class Refusal(Exception):
    """Why the archive cannot run here; the message says what it needs."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        check_python()
        archive = archive_path()
        build = read_build(archive)
        runtime = Runtime(archive, build, os.environ)
        site, temporary = runtime.ensure(force=os.environ.get("S2P_FORCE_EXTRACT", "") not in ("", "0"))
        activate(archive, site, build)
        if argv[:1] == ["prepare"]:
            return prepare(site, temporary)
        entry = load_entry(site)
    except Refusal as exc:
        sys.stderr.write("s2p: %s\n" % (exc,))
        return EXIT_REFUSED
    return entry(argv)


# ---------------------------------------------------------------- checks


def check_python():
    implementation = getattr(getattr(sys, "implementation", None), "name", None)
    if implementation == "cpython" and tuple(sys.version_info[:2]) >= MIN_PYTHON:
        return
    import platform

    raise Refusal(
        "s2p needs CPython %d.%d or newer; this is %s %s (%s). Fix: run it with a newer python3 "
        "(for example python3.11 s2p.pyz), or use the Docker image."
        % (MIN_PYTHON[0], MIN_PYTHON[1], platform.python_implementation(), platform.python_version(),
           sys.executable or "python"))


def interpreter_abi():
    """``cpython-311-x86_64-linux-gnu``: what a native module must be built for."""
    import importlib.machinery

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    if suffix.startswith(".") and suffix.endswith(".so"):
        return suffix[1:-3]
    return suffix.strip(".")


def normalise_machine(machine):
    machine = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8l": "aarch64"}.get(machine, machine)


def glibc_version():
    """(major, minor) of the C library when it is glibc, else None (musl has no confstr for it)."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    match = re.match(r"glibc (\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def describe_build(build):
    return "%s (%s, %s), CPython %s" % (
        build["platform"], build["machine"], build["libc_label"], ", ".join(build["pythons"]))


def check_platform(build, abi):
    """Refuse, naming what is needed, when this archive cannot run here."""
    import platform

    here_machine = normalise_machine(platform.machine())
    needs = "this archive is built for %s" % describe_build(build)
    fix = ("Fix: use the s2p.pyz built for this machine (python3 build_zipapp.py builds one for the "
           "machine it runs on), or the Docker image.")
    if not sys.platform.startswith("linux"):
        raise Refusal("%s; this system is %s. %s" % (needs, platform.system() or sys.platform, fix))
    if here_machine != build["machine"]:
        raise Refusal("%s; this machine is %s. %s" % (needs, here_machine, fix))
    glibc = glibc_version()
    if build["libc"] == "glibc":
        minimum = tuple(build["glibc_min"])
        if glibc is None:
            raise Refusal("%s; this system has no glibc (musl, as on Alpine?). Fix: build with "
                          "--platform musllinux_1_2_%s." % (needs, here_machine))
        if glibc < minimum:
            raise Refusal("%s; this system has glibc %d.%d. %s" % (needs, glibc[0], glibc[1], fix))
    elif build["libc"] == "musl" and glibc is not None:
        raise Refusal("%s; this system uses glibc %d.%d. Fix: use the manylinux2014_%s build."
                      % (needs, glibc[0], glibc[1], here_machine))
    if abi not in build["native"]:
        raise Refusal("%s; this interpreter needs native modules built for %s (%s). Fix: run it with one "
                      "of the Pythons listed, or build an archive for this one with build_zipapp.py."
                      % (needs, abi, sys.executable))


# ---------------------------------------------------------------- the archive


def archive_path():
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None) or (sys.argv[0] if sys.argv else "")
    if not archive or not os.path.isfile(archive):
        raise Refusal("run s2p.pyz as a file: python3 s2p.pyz [command]")
    return os.path.abspath(archive)


def read_build(archive):
    import json

    loader = globals().get("__loader__")
    try:
        data = loader.get_data(os.path.join(archive, BUILD_INFO))
    except (AttributeError, OSError, IOError):
        import zipfile

        try:
            with zipfile.ZipFile(archive) as zf:
                data = zf.read(BUILD_INFO)
        except (OSError, IOError, KeyError, zipfile.BadZipfile):
            raise Refusal("%s is not a complete s2p archive (%s is missing); download or build it again"
                          % (archive, BUILD_INFO))
    return json.loads(data.decode("utf-8"))


# ---------------------------------------------------------------- the cache


def cache_root(environ):
    """(directory, where it came from) or (None, reason)."""
    if environ.get("S2P_CACHE_DIR"):
        return environ["S2P_CACHE_DIR"], "S2P_CACHE_DIR"
    if environ.get("CACHE_DIRECTORY"):
        return environ["CACHE_DIRECTORY"].split(":")[0], "CACHE_DIRECTORY"
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return os.path.join(xdg, "s2p"), "XDG_CACHE_HOME"
    home = environ.get("HOME") or os.path.expanduser("~")
    if os.path.isabs(home) and home != "/":
        return os.path.join(home, ".cache", "s2p"), "~/.cache"
    return None, "no home directory and no S2P_CACHE_DIR"


class Runtime(object):
    """Finds or makes the unpacked copy of the archive's dependencies."""

    def __init__(self, archive, build, environ):
        self.archive = archive
        self.build = build
        self.environ = environ
        self.abi = interpreter_abi()
        self.key = "%s-%s" % (build["payload"][:16], self.abi)
        self.root, self.root_source = cache_root(environ)

    def ensure(self, force=False):
        """(directory on sys.path, whether it is removed at exit)."""
        if self.root and not force:
            final = os.path.join(self.root, self.key)
            if os.path.exists(os.path.join(final, COMPLETE)):  # the warm path: this one stat
                return final, False
        check_platform(self.build, self.abi)
        if self.root:
            try:
                return self._unpack_into_cache(force), False
            except EnvironmentError as exc:
                reason = "%s (%s)" % (self.root, getattr(exc, "strerror", None) or exc)
        else:
            reason = self.root_source
        sys.stderr.write("s2p: cannot use the cache directory %s; unpacking into a temporary directory "
                         "for this run only. Fix: set S2P_CACHE_DIR to a writable directory to start "
                         "faster.\n" % reason)
        return self._unpack_temporary(), True

    def _unpack_into_cache(self, force):
        import shutil
        import tempfile

        final = os.path.join(self.root, self.key)
        if not os.path.isdir(self.root):
            os.makedirs(self.root, 0o755)
        work = tempfile.mkdtemp(prefix="." + self.key + ".", dir=self.root)
        try:
            self.unpack(work)
            os.chmod(work, 0o755)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if force or (os.path.isdir(final) and not os.path.exists(os.path.join(final, COMPLETE))):
            self._remove(final)  # asked to, or a copy someone damaged
        try:
            # Atomic, and never replaces a finished copy: of two processes
            # unpacking at once, the second one's rename fails.
            os.rename(work, final)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
            if not os.path.exists(os.path.join(final, COMPLETE)):
                raise
        self.prune()
        return final

    def _remove(self, directory):
        """Move a directory out of the way at once, then delete it."""
        import shutil
        import tempfile

        if not os.path.isdir(directory):
            return
        aside = tempfile.mkdtemp(prefix="." + self.key + ".", dir=self.root)
        try:
            os.rename(directory, os.path.join(aside, "old"))
        except OSError:
            pass  # another process moved it first
        shutil.rmtree(aside, ignore_errors=True)

    def _unpack_temporary(self):
        import atexit
        import shutil
        import tempfile

        work = tempfile.mkdtemp(prefix="s2p-")
        atexit.register(shutil.rmtree, work, True)
        try:
            self.unpack(work)
        except EnvironmentError as exc:
            raise Refusal("cannot unpack s2p's dependencies into %s (%s). Fix: set S2P_CACHE_DIR to a "
                          "writable directory with 40 MB free." % (work, getattr(exc, "strerror", None) or exc))
        return work

    def unpack(self, directory):
        """lib/ and the native modules for this interpreter, then the marker."""
        import shutil
        import zipfile

        suffix = "." + self.abi + ".so"
        with zipfile.ZipFile(self.archive) as zf:
            for info in zf.infolist():
                name = info.filename
                if name.startswith("lib/"):
                    relative = name[4:]
                elif name.startswith("native/"):
                    relative = name[7:]
                    if relative.endswith(".so") and not relative.endswith(suffix):
                        continue  # built for another Python
                else:
                    continue
                parts = relative.split("/")
                if not relative or name.endswith("/") or ".." in parts:
                    continue
                target = os.path.join(directory, *parts)
                parent = os.path.dirname(target)
                if not os.path.isdir(parent):
                    os.makedirs(parent)
                source = zf.open(info)
                try:
                    with open(target, "wb") as out:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                finally:
                    source.close()
                os.chmod(target, (info.external_attr >> 16) & 0o777 or 0o644)
        with open(os.path.join(directory, COMPLETE), "w") as marker:
            marker.write("%s %s\n" % (self.build["payload"], self.abi))

    def prune(self):
        """Remove crash leftovers and old copies for this interpreter (best effort)."""
        import shutil
        import time

        same_abi = "-" + self.abi
        finished = []
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        now = time.time()
        for name in names:
            path = os.path.join(self.root, name)
            try:
                if _OURS_UNFINISHED.match(name):
                    if now - os.stat(path).st_mtime > STALE_SECONDS:
                        shutil.rmtree(path, ignore_errors=True)
                elif _OURS.match(name) and name != self.key and name.endswith(same_abi):
                    finished.append((os.stat(os.path.join(path, COMPLETE)).st_mtime, path))
            except OSError:
                continue
        finished.sort(reverse=True)
        for _, path in finished[KEEP_OLD:]:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- running


def activate(archive, site, build):
    """Our code and dependencies first; nothing from the system's site-packages."""
    outside = set()
    try:
        import site as site_module

        outside.update(site_module.getsitepackages())
        outside.add(site_module.getusersitepackages())
    except (ImportError, AttributeError):
        pass
    kept = [path for path in sys.path
            if path not in outside and not (path and os.path.abspath(path) == archive)]
    sys.path[:] = [os.path.join(archive, "app"), site] + kept
    shadowed = []
    for name in build.get("top_level", []):
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) or ""
        if module is not None and not where.startswith(site):
            shadowed.append(name)
    if shadowed:
        sys.stderr.write("s2p: %s was imported from outside the archive before s2p started (a .pth file "
                         "in site-packages?); run python3 -I -S s2p.pyz to keep them out.\n"
                         % ", ".join(sorted(shadowed)))


def load_entry(site):
    try:
        from s2p.cli import main as entry
    except ImportError as exc:
        raise Refusal("cannot load s2p's dependencies from %s (%s). If that directory is on a filesystem "
                      "mounted noexec, set S2P_CACHE_DIR to one that is not; S2P_FORCE_EXTRACT=1 unpacks "
                      "them again." % (site, exc))
    return entry


def prepare(site, temporary):
    """Unpack and byte-compile now, so later starts are warm even on a read-only system."""
    import compileall
    import py_compile

    if temporary:
        raise Refusal("prepare needs a writable cache directory: set S2P_CACHE_DIR")
    try:
        import pydantic_core._pydantic_core  # noqa: F401  (proves the native part loads here)
    except ImportError as exc:
        raise Refusal("the native part of pydantic-core does not load from %s: %s" % (site, exc))
    ok = compileall.compile_dir(site, quiet=1, workers=0,
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    # Readable by every user: images unpack as root and run as another user.
    os.chmod(os.path.dirname(site), 0o755)
    for directory, _dirs, files in os.walk(site):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            os.chmod(path, os.stat(path).st_mode & 0o777 | 0o444)
    sys.stdout.write("s2p: dependencies unpacked and byte-compiled in %s\n" % site)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
