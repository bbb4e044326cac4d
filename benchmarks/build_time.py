"""How long the book takes to build and the test suite to run, part by part, against budgets.

    python benchmarks/build_time.py            # the build, each notebook, and the test suite
    python benchmarks/build_time.py --build    # only the build and each notebook
    python benchmarks/build_time.py --tests    # only the test suite

1. A cold strict build (``book.build`` in tools/book: a new output folder, so no execution cache
   and every notebook is executed; two processes) and, read from its execution statistics, the
   time each notebook took, against its budget (a chapter: 30 s; Glow and chapter 8 45 s; a
   follow-up page such as chapters/05b_variational_dequantization has a budget of its own,
   30 s, beside its chapter's).
2. The test suite exactly as ``make test`` runs it (it builds the book itself, in the
   background), its total time, the build's time and how long the tests that need the book
   waited for it (the suite prints both), and the time of its tests grouped by part (library,
   quizzes, exercises, chapters, build, browser, and setup, which holds the wait) from pytest's
   ``--durations``.

Wall-clock times on whatever the machine is doing: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # the book's build tooling, tools/book

import book  # noqa: E402

BUDGETS = {"build": 180.0, "tests": 600.0}
NOTEBOOK_BUDGET = 30.0
#: pages whose budget is not NOTEBOOK_BUDGET, and follow-up pages (each has its own budget)
PAGE_BUDGETS = {"chapters/05_glow": 45.0, "chapters/05b_variational_dequantization": 30.0,
                "chapters/08_beyond_affine": 45.0}

#: test file -> part of the suite
PARTS = [("browser", r"^tests/browser/"), ("build", r"test_book_build|test_notebooks"),
         ("chapters", r"test_chapter"), ("exercises", r"test_exercises"),
         ("quizzes", r"test_quizzes"), ("library", r".")]


def time_build() -> float:
    with tempfile.TemporaryDirectory() as folder:
        built = book.build(ROOT, Path(folder), jobs=2)
        if built.returncode != 0:
            print(built.log[-4000:])
            raise SystemExit("the strict build failed")
        times = book.execution_seconds(built.html)
    print(f"{'notebook':45s}{'seconds':>9s}{'budget':>8s}")
    for page, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        budget = PAGE_BUDGETS.get(page, NOTEBOOK_BUDGET)
        flag = "" if seconds <= budget else "  OVER"
        print(f"{page:45s}{seconds:9.1f}{budget:8.0f}{flag}")
    return built.seconds


def _part(test_file: str) -> str:
    return next(name for name, pattern in PARTS if re.search(pattern, test_file))


def time_tests() -> float:
    start = time.perf_counter()
    # as the Makefile's `test` target runs it (two pytest-xdist workers)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q",
                           "-p", "no:cacheprovider", "--durations=0", "--durations-min=0"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    by_part = defaultdict(float)
    for match in re.finditer(r"^([\d.]+)s (call|setup|teardown)\s+(\S+?)::", proc.stdout,
                             re.MULTILINE):
        part = "setup and teardown" if match.group(2) != "call" else _part(match.group(3))
        by_part[part] += float(match.group(1))
    lines = proc.stdout.strip().splitlines()
    print(lines[-1] if lines else proc.stderr[-2000:])
    book_line = re.search(r"^built in .*$", proc.stdout, re.MULTILINE)
    print("the book:", book_line.group(0) if book_line else "(no build reported)")
    print("time in tests by part, summed over both workers (the book builds while the library "
          "tests run; the tests that need it wait for it in their setup):")
    for name in [name for name, _ in PARTS] + ["setup and teardown"]:
        print(f"  {name:20s}{by_part.get(name, 0.0):8.1f} s")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--build", action="store_true", help="time only the build")
    which.add_argument("--tests", action="store_true", help="time only the test suite")
    args = parser.parse_args()
    results = {} if args.tests else {"build": time_build()}
    if not args.build:
        results["tests"] = time_tests()
    for name, seconds in results.items():
        verdict = "within" if seconds <= BUDGETS[name] else "OVER"
        print(f"{name:>6}: {seconds:7.1f} s   ({verdict} the {BUDGETS[name]:.0f} s budget)")


if __name__ == "__main__":
    main()
