"""A chapter on a busy machine: executed with the default BLAS threads while two other processes
keep both cores busy, next to the same chapter on an idle machine with one BLAS thread.

Readers run the chapters on Binder or on a laptop under load, with whatever BLAS threading their
numpy defaults to. Before the chapters limited BLAS threads themselves (``nflib.course.setup()``),
the Newton chapter took 605 s there instead of 6 s. Prints both times and their ratio (goal:
under 3; two competing processes on two cores alone make about 2 expected).

    python benchmarks/busy_machine.py [chapters/06_newton_fitting.md]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # the book's build tooling, tools/book
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _keep_a_core_busy(stop) -> None:
    """A single-threaded numpy process doing small matrix products until told to stop."""
    os.environ.update({v: "1" for v in BLAS_VARIABLES})
    import numpy as np

    a = np.random.default_rng(0).standard_normal((64, 64))
    while not stop.is_set():
        for _ in range(200):
            a = np.tanh(a @ a.T / 64.0)


def _execute(chapter: Path, blas_threads: str | None) -> float:
    """Wall-clock seconds to execute ``chapter`` on a fresh kernel with the given BLAS setting
    (None: the machine's default) in the kernel's environment."""
    import book

    saved = {v: os.environ.get(v) for v in BLAS_VARIABLES}
    try:
        for v in BLAS_VARIABLES:
            if blas_threads is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = blas_threads
        return book.execute(chapter, timeout=1200).seconds
    finally:
        for v, value in saved.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


def main() -> None:
    chapter = ROOT / (sys.argv[1] if len(sys.argv) > 1 else "chapters/06_newton_fitting.md")
    idle = _execute(chapter, "1")
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=_keep_a_core_busy, args=(stop,)) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(1.0)
        busy = _execute(chapter, None)
    finally:
        stop.set()
        for w in workers:
            w.join()
    print(f"{chapter.relative_to(ROOT)} on {os.cpu_count()} cores")
    print(f"  idle machine, 1 BLAS thread:                        {idle:7.1f} s")
    print(f"  both cores busy, default BLAS threads of the kernel: {busy:7.1f} s")
    print(f"  ratio {busy / idle:.2f} (goal: under 3)")


if __name__ == "__main__":
    main()
