"""Print how long a cold, forced build of the whole book and the full test suite take.

    python benchmarks/build_time.py            # both
    python benchmarks/build_time.py --build    # only the build

"Cold" means a new output folder: no execution cache, so every notebook is executed. The test
suite is timed as `python -m pytest` exactly as `make test` runs it (it builds the book once more
itself). Budgets for today's book on a 2-core machine: build < 60 s, tests < 300 s; every later
chapter keeps the build under 180 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import build_book  # noqa: E402

BUDGETS = {"build": 60.0, "tests": 300.0}


def time_build() -> float:
    with tempfile.TemporaryDirectory() as folder:
        built = build_book(Path(folder))
    if built.returncode != 0:
        print(built.log[-4000:])
        raise SystemExit("the strict build failed")
    return built.seconds


def time_tests() -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:])
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="time only the build")
    args = parser.parse_args()
    results = {"build": time_build()}
    if not args.build:
        results["tests"] = time_tests()
    for name, seconds in results.items():
        verdict = "within" if seconds <= BUDGETS[name] else "OVER"
        print(f"{name:>6}: {seconds:7.1f} s   ({verdict} the {BUDGETS[name]:.0f} s budget)")


if __name__ == "__main__":
    main()
