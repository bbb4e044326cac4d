"""Every notebook page of the book ran top to bottom on a fresh kernel in the strict build, and
the harness that executes notebooks outside the build reports failures and glued values."""

from __future__ import annotations

import pytest

import book
from notebooks import ROOT, book_notebooks, execute_notebook

NOTEBOOKS = book_notebooks()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_build_executed_the_notebook_without_errors(path, built_book):
    if built_book.returncode != 0:
        pytest.fail(f"the book did not build:\n{built_book.log[-4000:]}")
    notebook = book.executed(built_book, path.relative_to(ROOT), ROOT)
    errors = [i for i, cell in enumerate(notebook.cells)
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells {errors} raised"


def test_the_build_records_execution_times(built_book, tmp_path):
    times = book.execution_seconds(built_book.html)
    if not built_book.log:   # an existing build (BOOK_HTML): its table is all there is
        assert times
        return
    expected = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert expected <= set(times), sorted(expected - set(times))
    assert all(t > 0 for t in times.values())


def _notebook_text(body: str) -> str:
    return ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
            "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
            + body)


@pytest.mark.slow
def test_failing_cell_is_reported_with_cell_and_error(tmp_path):
    """The harness names the cell and the error when a notebook raises."""
    from notebooks import NotebookError

    broken = tmp_path / "broken.md"
    broken.write_text(_notebook_text(
        "# Broken\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
        "```{code-cell} ipython3\nraise ValueError('log-det has the wrong sign')\n```\n"))
    with pytest.raises(NotebookError) as info:
        execute_notebook(broken, timeout=60)
    message = str(info.value)
    assert "cell 2" in message or "cell 1" in message
    assert "ValueError" in message and "wrong sign" in message
    assert "raise ValueError" in message


@pytest.mark.slow
def test_glued_values_are_read_back(tmp_path):
    page = tmp_path / "glue.md"
    page.write_text(_notebook_text(
        "```{code-cell} ipython3\nimport numpy as np\nfrom nflib.course.glue import glue\n"
        "glue('half', np.float64(0.5), display=False)\nglue('n', 3, display=False)\n"
        "glue('pair', (1.5, 2.0), display=False)\nglue('runs', {'K2': [0.25]}, display=True)\n"
        "```\n"))
    glued = execute_notebook(page, timeout=60).glued
    assert glued == {"half": 0.5, "n": 3, "pair": [1.5, 2.0], "runs": {"K2": [0.25]}}
    assert type(glued["n"]) is int and type(glued["half"]) is float


def test_toc_walk_finds_every_page_in_order():
    pages = book.toc_pages(ROOT)
    assert pages[0].name == "intro.md"
    assert len(pages) == len(set(pages))
    assert book.chapters(ROOT) == [p for p in pages if p.parent.name == "chapters"]
    assert book.find_root(ROOT / "chapters") == ROOT
