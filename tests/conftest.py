"""Shared fixtures: the strictly built book (built once per session)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# One BLAS thread: the test matrices are tiny, and on a busy 2-core machine two spinning BLAS
# threads per process made the gradient checks over ten times slower. Read when numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BuiltBook:
    html: Path          # the folder holding index.html
    log: str            # everything the build printed ("" when an existing build was reused)
    returncode: int
    seconds: float


def build_book(output: Path) -> BuiltBook:
    """Strict build with every notebook executed afresh: an empty output folder has no
    execution cache, so edits to nflib are really executed. Warnings are errors."""
    import time

    start = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT),
         "--path-output", str(output),
         "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return BuiltBook(html=output / "_build" / "html", log=proc.stdout + proc.stderr,
                     returncode=proc.returncode, seconds=seconds)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """The built site. Set BOOK_HTML=path/to/_build/html to test an existing build instead."""
    existing = os.environ.get("BOOK_HTML")
    if existing:
        html = Path(existing).resolve()
        if not (html / "index.html").exists():
            pytest.fail(f"BOOK_HTML={existing} has no index.html")
        return BuiltBook(html=html, log="", returncode=0, seconds=0.0)
    return build_book(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def nb(request):
    """The executed notebook named by the test module's ``CHAPTER`` (run once per session)."""
    from notebooks import execute_notebook

    return execute_notebook(request.module.CHAPTER)


@pytest.fixture(scope="module")
def glued(nb):
    """The values the module's ``CHAPTER`` glued into its text, by glue name."""
    return nb.glued
