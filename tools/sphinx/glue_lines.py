"""Sphinx extension: the site shows a code cell without the lines that only glue its numbers.

A chapter computes a number in a code cell and hands it to its text with
``glue("ch3_name", value, display=False)``; to a reader of the site those calls are bookkeeping
between two parts of the same page, repeated after almost every computation. On the site they
are left out of the displayed code (the cell still runs them: the executed notebook, the
downloads and Binder keep every line):

* a statement that is a call of ``glue(...)`` (however many lines it spans), at any depth;
* a compound statement (``for``, ``if``, ``with``) whose body is nothing but such calls;
* the import of ``glue`` (``from nflib.course.glue import glue``, or myst-nb's);
* comment lines directly above a removed statement, and blank lines left at the end.

A cell left with no code shows no input at all (its outputs stay). A cell that is not valid
Python (a magic, a shell escape) is shown as it is.
"""

from __future__ import annotations

import ast

from docutils import nodes

#: the modules a chapter imports ``glue`` from: the course's (which stores the value's type too)
#: and myst-nb's own
GLUE_MODULES = ("nflib.course.glue", "myst_nb")


def _is_glue_call(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    return (isinstance(func, ast.Name) and func.id == "glue") or (
        isinstance(func, ast.Attribute) and func.attr == "glue")


def _only_glue(stmt: ast.stmt) -> bool:
    """A glue call, the glue import, or a compound statement made only of those."""
    if _is_glue_call(stmt):
        return True
    if isinstance(stmt, ast.ImportFrom):
        return stmt.module in GLUE_MODULES and [a.name for a in stmt.names] == ["glue"]
    if isinstance(stmt, (ast.For, ast.If, ast.With, ast.While)):
        bodies = [stmt.body, getattr(stmt, "orelse", [])]
        return all(_only_glue(s) for body in bodies for s in body)
    return False


def _removed_lines(body: list) -> set[int]:
    """Line numbers (1-based) of the statements that only glue, at any depth (a loop whose body
    also computes keeps that computation)."""
    lines: set[int] = set()
    for stmt in body:
        if _only_glue(stmt):
            lines.update(range(stmt.lineno, stmt.end_lineno + 1))
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                lines |= _removed_lines(inner)
    return lines


def strip_glue(source: str) -> str:
    """``source`` without its glue-only statements (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    removed = _removed_lines(tree.body)
    if not removed:
        return source
    lines = source.split("\n")
    for number in sorted(removed):  # comments directly above a removed statement go with it
        above = number - 1
        while above >= 1 and above not in removed and lines[above - 1].lstrip().startswith("#"):
            removed.add(above)
            above -= 1
    kept = [line for i, line in enumerate(lines, start=1) if i not in removed]
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept)


def _strip_cell_inputs(app, doctree) -> None:
    for source in list(doctree.findall(
            lambda n: isinstance(n, nodes.container) and n.get("nb_element") == "cell_code_source")):
        for block in list(source.findall(nodes.literal_block)):
            text = block.astext()
            stripped = strip_glue(text)
            if stripped == text:
                continue
            if stripped.strip():
                block.children = [nodes.Text(stripped)]
                block.rawsource = stripped
            else:
                block.parent.remove(block)
        if not source.children:
            cell = source.parent
            cell.remove(source)
            if not any(isinstance(c, nodes.Element) and c.children for c in cell.children):
                cell.parent.remove(cell)


def setup(app):
    app.connect("doctree-read", _strip_cell_inputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
