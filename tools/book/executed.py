"""Notebooks as a build executed them, or executed here on a fresh kernel, with what they glued.

``executed(built, page)`` reads a notebook as the strict build executed it (so tests do not run
it a second time); ``execute(path)`` runs one on a fresh kernel outside a build. Both return an
``ExecutedNotebook`` whose ``glued`` maps each glue name to its value, read with its type from
the JSON that ``nflib.course.glue.glue`` stores beside the text (``glued_value``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import BuiltBook, execution_seconds, glue_data, private_socket_prefix
from .toc import find_root


class NotebookError(AssertionError):
    """A cell of a notebook raised; the message says which cell and what it raised."""


@dataclass
class ExecutedNotebook:
    path: Path
    notebook: object  # nbformat.NotebookNode
    glued: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def cells(self):
        return self.notebook.cells

    def outputs_text(self, cell_index: int) -> str:
        """All text output (streams and text/plain) of one cell, joined."""
        return "".join(_output_text(o) for o in self.notebook.cells[cell_index].get("outputs", []))

    def all_text_output(self) -> str:
        return "\n".join(self.outputs_text(i) for i, c in enumerate(self.notebook.cells)
                         if c.cell_type == "code")

    def html_outputs(self) -> list[str]:
        """Every text/html output (quizzes, animations), in order."""
        return [o["data"]["text/html"] for c in self.notebook.cells if c.cell_type == "code"
                for o in c.get("outputs", []) if "data" in o and "text/html" in o["data"]]


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/plain", "") if output.get("output_type") in (
        "execute_result", "display_data") else ""


_NUMPY_SCALAR = re.compile(r"^np\.(?:float|int|uint|bool_?|complex)\w*\((.*)\)$", re.DOTALL)


def unwrap_numpy_scalar(text: str) -> str:
    """``"np.float64(0.58)"`` -> ``"0.58"``: a numpy scalar's repr as the number it shows (for
    formatting a glued text/plain as the page shows it; values are read from their JSON)."""
    text = text.strip()
    match = _NUMPY_SCALAR.match(text)
    return match.group(1) if match else text


class GlueError(AssertionError):
    """A glued value the tests cannot read with its type; the message names the glue and page."""


@dataclass(frozen=True)
class RichGlue:
    """A glued rich object (a figure, an HTML table): pasted into the page, not read as a value."""

    mime_types: tuple


def glued_value(name: str, output, page="the notebook"):
    """The value one glued output holds, with its type: the JSON ``nflib.course.glue.glue``
    stores beside the text (``application/json`` of a shown output is read too); a
    ``RichGlue`` for a figure or other rich object; a ``GlueError`` for a value glued as text
    only (with ``myst_nb.glue`` itself), never its text parsed back."""
    from nflib.course.glue import JSON_MIME  # here: importing book loads no nflib

    prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
    # the notebook keeps myst-nb's prefix on each mime type; <page>.glue.json has it removed
    data = {key[len(prefix):] if prefix and key.startswith(prefix) else key: value
            for key, value in output.get("data", {}).items()}
    # a prefixed application/json can only hold text in a valid notebook: read it unprefixed
    for mime in (JSON_MIME,) + (("application/json",) if not prefix else ()):
        if mime in data:   # as plain lists and dicts (nbformat reads dicts as NotebookNodes)
            return json.loads(json.dumps(data[mime]))
    rich = tuple(sorted(set(data) - {"text/plain"}))
    if rich:
        return RichGlue(rich)
    raise GlueError(f"{page}: glue {name!r} holds only the text {data.get('text/plain')!r}, no "
                    "typed value: glue it with nflib.course.glue.glue "
                    "(`from nflib.course.glue import glue`), which stores plain values as JSON")


def glued_values(notebook, page="the notebook") -> dict:
    """name -> value of every glue in an executed notebook (see ``glued_value``)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                values[scrap["name"]] = glued_value(scrap["name"], output, page)
    return values


def executed(built: BuiltBook, page, root=None) -> ExecutedNotebook:
    """The notebook ``page`` (a path in the book) as the build executed it."""
    import nbformat

    root = Path(root) if root else find_root()
    page = Path(page)
    relative = (page if not page.is_absolute() else page.relative_to(root)).with_suffix(".ipynb")
    path = built.executed_dir / relative
    if not path.is_file():
        raise FileNotFoundError(f"the build did not execute {relative.with_suffix('')} "
                                f"(no {path})")
    notebook = nbformat.read(str(path), as_version=4)
    seconds = execution_seconds(built.html).get(str(relative.with_suffix("")), 0.0)
    # myst-nb moves the glued outputs out of the notebook it writes, into <page>.glue.json
    glued = glued_values(notebook, page)
    for name, output in glue_data(built.html, str(relative.with_suffix(""))).items():
        glued[name] = glued_value(name, output, page)
    return ExecutedNotebook(path=root / page, notebook=notebook, glued=glued, seconds=seconds)


def execute(path, timeout: int = 300) -> ExecutedNotebook:
    """Run a notebook (MyST ``.md`` or ``.ipynb``) top to bottom on a fresh kernel, in an empty
    temporary folder as the build does (``run_in_temp`` in _config.yml), so that nothing can
    depend on files beside it; a failing cell raises ``NotebookError``."""
    import tempfile

    import jupytext
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path).resolve()
    notebook = jupytext.read(str(path))
    # IPC sockets of its own: TCP ports can collide with a kernel started at the same moment
    # by another process (see ``build._use_private_kernel_sockets``)
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=private_socket_prefix())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nflib-run-") as folder:
        client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": folder}})
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            raise NotebookError(_error_message(path, notebook, exc)) from None
    return ExecutedNotebook(path=path, notebook=notebook, glued=glued_values(notebook, path.name),
                            seconds=time.perf_counter() - start)


def _error_message(path: Path, notebook, exc) -> str:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"{path.name}: cell {index} raised {output.get('ename')}: "
                        f"{output.get('evalue')}\n--- cell source ---\n{cell.source}\n"
                        "--- end of cell ---")
    return f"{path.name}: execution failed: {exc}"
