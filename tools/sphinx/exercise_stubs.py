"""Sphinx extension: an exercise page shows the learner's starting code above the folded solution.

In an exercise notebook the solution code sits between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` inside a ``{solution-start}`` dropdown; the learner version
(``tools/make_learner.py``) replaces those lines with ``raise NotImplementedError``. On the site
the reader should meet that same stub first, open to read and copy, with the worked solution
still folded below it. For every code cell of a solution that holds such markers, this inserts
the stub (the cell with its solution lines replaced) just before the solution.

It runs before ``site_fixes`` removes the markers from the displayed solution code.
"""

from __future__ import annotations

import re

from docutils import nodes

EXERCISE_DOCS = "exercises/"
_SOLUTION = re.compile(r"^([ \t]*)# BEGIN SOLUTION[ \t]*\n.*?^[ \t]*# END SOLUTION[ \t]*$",
                       re.M | re.S)


def learner_stub(code: str) -> str:
    """``code`` with each marked solution replaced by ``raise NotImplementedError`` at the
    indentation of its ``# BEGIN SOLUTION`` line."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError", code)


def _stub_cell(code: str) -> nodes.container:
    block = nodes.literal_block(code, code, language="ipython3")
    inner = nodes.container("", block, classes=["cell_input", "exercise-stub-input"])
    return nodes.container("", inner, classes=["cell", "exercise-stub"])


def _insert_stubs(app, doctree) -> None:
    if not app.env.docname.startswith(EXERCISE_DOCS):
        return
    from sphinx_exercise.nodes import solution_node

    for solution in list(doctree.findall(solution_node)):
        stubs = [learner_stub(block.astext()) for block in solution.findall(nodes.literal_block)
                 if _SOLUTION.search(block.astext())]
        if not stubs:
            continue
        intro = nodes.paragraph("", "Start from this code (the solution is folded below):",
                                classes=["exercise-stub-intro"])
        parent = solution.parent
        index = parent.index(solution)
        for offset, node in enumerate([intro, *map(_stub_cell, stubs)]):
            parent.insert(index + offset, node)


def setup(app):
    # before site_fixes (default priority 500) strips the markers from the solution's code
    app.connect("doctree-read", _insert_stubs, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
