"""The book's notebooks for the tests: paths relative to the repository, each executed at most
once per test session. The work is done by ``book`` (tools/book); this module only adds the
repository root and the per-session cache.

    from notebooks import execute_notebook
    nb = execute_notebook("exercises/learner/01_change_of_variables.md")   # on a fresh kernel
    nb.glued["name"]       # a value the notebook glued (nflib.course.glue), with its type

Chapters are not executed here: their tests read them as the strict book build executed them
(the ``nb`` and ``glued`` fixtures of ``conftest.py``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import book
from book import ExecutedNotebook, NotebookError, is_notebook  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_TIMEOUT = 300  # seconds per cell


def read_notebook(path):
    """Read a MyST Markdown (.md) or .ipynb notebook into an nbformat notebook."""
    import jupytext

    return jupytext.read(str(path))


@lru_cache(maxsize=None)
def _execute_cached(path_str: str, timeout: int) -> ExecutedNotebook:
    return book.execute(path_str, timeout=timeout)


def execute_notebook(path, timeout: int = DEFAULT_TIMEOUT) -> ExecutedNotebook:
    """Execute a notebook (path relative to the repository root, or absolute), once per session."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    return _execute_cached(str(path.resolve()), timeout)


def toc_pages() -> list[Path]:
    """Every source file listed in _toc.yml (root first)."""
    return book.toc_pages(ROOT)


def book_notebooks() -> list[Path]:
    """Every page in _toc.yml that is a notebook."""
    return book.book_notebooks(ROOT)


def chapters() -> list[Path]:
    """The chapter notebooks in _toc.yml order."""
    return book.chapters(ROOT)
