#!/usr/bin/env python3
"""Figures for s2p.pyz: archive size per platform, and how long
``python3 s2p.pyz version`` takes cold (first run: unpacking) and warm.

    python3 bench/pyz_start.py                      # builds dist/s2p.pyz if missing
    python3 bench/pyz_start.py --python /tmp/bare/bin/python --runs 15 --sizes

Use a bare interpreter for the start times (a fresh venv, nothing installed):
a site-packages with .pth files that import things at start-up skews them.
--sizes builds the archive for every platform (downloading their wheels once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return elapsed


def start_times(python: str, pyz: Path, runs: int) -> tuple[list[float], list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S2P_", "PYTHON"))}
    command = [python, "-I", str(pyz), "version"]
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env["S2P_CACHE_DIR"] = cache = os.path.join(tmp, "cache")
        for _ in range(runs):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(timed(command, env))
        for _ in range(runs):
            warm.append(timed(command, env))
    return cold, warm


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", type=Path, default=REPO / "dist" / "s2p.pyz")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time (default: this one)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", action="store_true", help="build for every platform and print the sizes")
    args = parser.parse_args()
    if not args.pyz.exists():
        subprocess.run([sys.executable, str(REPO / "build_zipapp.py"), "--output", str(args.pyz)], check=True)
    if args.sizes:
        sys.path.insert(0, str(REPO))
        import build_zipapp

        with tempfile.TemporaryDirectory() as dist:
            subprocess.run([sys.executable, str(REPO / "build_zipapp.py"), "--dist", dist]
                           + [f"--platform={p}" for p in build_zipapp.PLATFORMS], check=True, stdout=subprocess.PIPE)
            subprocess.run([sys.executable, str(REPO / "build_zipapp.py"), "--dist", dist, "--python", "3.12"],
                           check=True, stdout=subprocess.PIPE)
            for path in sorted(Path(dist).glob("*.pyz")):
                print(f"size  {path.name:40} {path.stat().st_size / 2**20:6.2f} MiB")
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    cold, warm = start_times(args.python, args.pyz, args.runs)
    print(f"start {args.pyz.name}, CPython {version}, {args.runs} runs each:")
    print(f"  cold (first run, unpacking): {ms(cold)}")
    print(f"  warm:                        {ms(warm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
