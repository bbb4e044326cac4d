"""Every notebook page of the book runs top to bottom on a fresh kernel."""

from __future__ import annotations

import pytest

from notebooks import ROOT, book_notebooks, execute_notebook

pytestmark = pytest.mark.slow

#: seconds a chapter may take to execute on a 2-core machine (the build runs them all)
EXECUTION_BUDGET = 60


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs_top_to_bottom(path):
    notebook = execute_notebook(path)
    assert notebook.seconds < EXECUTION_BUDGET, (
        f"{path.name} took {notebook.seconds:.1f} s to execute (budget {EXECUTION_BUDGET} s)")


def test_failing_cell_is_reported_with_cell_and_error(tmp_path):
    """The harness names the cell and the error when a notebook raises."""
    from notebooks import NotebookError

    broken = tmp_path / "broken.md"
    broken.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "# Broken\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
        "```{code-cell} ipython3\nraise ValueError('log-det has the wrong sign')\n```\n")
    with pytest.raises(NotebookError) as info:
        execute_notebook(broken, timeout=60)
    message = str(info.value)
    assert "cell 2" in message or "cell 1" in message
    assert "ValueError" in message and "wrong sign" in message
    assert "raise ValueError" in message


def test_glued_values_are_read_back(tmp_path):
    page = tmp_path / "glue.md"
    page.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "```{code-cell} ipython3\nimport numpy as np\nfrom myst_nb import glue\n"
        "glue('half', np.float64(0.5), display=False)\nglue('n', 3, display=False)\n"
        "glue('pair', [1.5, 2.0], display=False)\n```\n")
    glued = execute_notebook(page, timeout=60).glued
    assert glued == {"half": 0.5, "n": 3, "pair": [1.5, 2.0]}
