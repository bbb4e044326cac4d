"""Execute the book's MyST notebooks on a fresh kernel and read what they computed.

    from notebooks import execute_notebook
    nb = execute_notebook("chapters/01_change_of_variables.md")
    nb.glued["planar_logdet"]      # a value the chapter glued with myst_nb.glue(...)
    nb.last_output()               # text/plain of the last cell that printed or returned something

A notebook runs top to bottom in a new kernel with its own folder as working directory (as
myst-nb does when building the book). Each notebook runs at most once per test session: results
are cached by path. A cell that raises makes ``execute_notebook`` raise ``NotebookError``, whose
message names the notebook, the cell number, the cell's source and the error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_TIMEOUT = 300  # seconds per cell


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

    def last_output(self) -> str:
        """Text output of the last code cell that has any."""
        for cell in reversed(self.notebook.cells):
            if cell.cell_type == "code" and cell.get("outputs"):
                text = "".join(_output_text(o) for o in cell.outputs)
                if text:
                    return text
        return ""

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


def parse_glued_text(text: str):
    """Turn the text/plain form of a glued value back into a Python value.

    Numbers (including numpy scalars shown as ``np.float64(0.58)``), strings, lists, tuples and
    dicts of those come back as Python objects; anything else is returned as the text.
    """
    text = text.strip()
    match = _NUMPY_SCALAR.match(text)
    if match:
        text = match.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _glued_values(notebook) -> dict:
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            data = output.get("data", {})
            # glue(..., display=False) stores the value under a prefixed mime type
            text = data.get(scrap.get("mime_prefix", "") + "text/plain", data.get("text/plain"))
            if text is not None:
                values[scrap["name"]] = parse_glued_text(text)
    return values


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _error_message(path: Path, notebook, exc) -> str:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"{_display_path(path)}: cell {index} raised "
                        f"{output.get('ename')}: {output.get('evalue')}\n"
                        f"--- cell source ---\n{cell.source}\n--- end of cell ---")
    return f"{_display_path(path)}: execution failed: {exc}"


def read_notebook(path):
    """Read a MyST Markdown (.md) or .ipynb notebook into an nbformat notebook."""
    import jupytext

    return jupytext.read(str(path))


@lru_cache(maxsize=None)
def _execute_cached(path_str: str, timeout: int) -> ExecutedNotebook:
    import time

    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path_str)
    notebook = read_notebook(path)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        raise NotebookError(_error_message(path, notebook, exc)) from None
    seconds = time.perf_counter() - start
    return ExecutedNotebook(path=path, notebook=notebook, glued=_glued_values(notebook),
                            seconds=seconds)


def execute_notebook(path, timeout: int = DEFAULT_TIMEOUT) -> ExecutedNotebook:
    """Execute a notebook (path relative to the repository root, or absolute), once per session."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    return _execute_cached(str(path.resolve()), timeout)


def book_notebooks() -> list[Path]:
    """Every page in _toc.yml that is a notebook (a .md file with a jupytext header or .ipynb)."""
    return [p for p in toc_pages() if is_notebook(p)]


def toc_pages() -> list[Path]:
    """Every source file listed in _toc.yml (root first), as paths."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [_source_for(name) for name in names]


def _source_for(name: str) -> Path:
    for suffix in (".md", ".ipynb"):
        candidate = ROOT / (name + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"_toc.yml lists {name!r} but no {name}.md or {name}.ipynb exists")


def is_notebook(path: Path) -> bool:
    if path.suffix == ".ipynb":
        return True
    head = path.read_text()[:400]
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head
