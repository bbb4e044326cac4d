"""The book as a whole: its table of contents, its notebooks, building it and serving it.

One home for what the tests, the tools, the benchmarks and the Sphinx extensions all need:

* ``find_root()``: the book's folder (the one holding ``_toc.yml`` and ``_config.yml``);
* ``toc_pages(root)``, ``chapters(root)``, ``book_notebooks(root)``, ``is_notebook(path)``:
  the pages in ``_toc.yml`` order, and which of them are notebooks (a ``.ipynb``, or a ``.md``
  whose front matter declares jupytext and a kernelspec);
* ``build(root, output, jobs=2)``: a strict build (warnings are errors, nitpicky, every
  notebook executed afresh) with ``jobs`` processes reading and executing pages in parallel;
  the same configuration as ``jupyter-book build . -W -n --keep-going``;
* ``executed(built, page)``: a notebook as the build executed it, with the values it glued, so
  tests read the build's results instead of executing each notebook a second time;
  ``execute(path)`` runs a notebook on a fresh kernel outside a build;
* ``execution_seconds(html)``: each notebook's run time, read from the build's statistics page;
* ``serve(html)``: the built site on an ephemeral port of 127.0.0.1, for a browser.

Command line (used by the tests so the build's output is captured)::

    python -m nflib.course.book build ROOT OUTPUT [--jobs 2]
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["find_root", "toc_entries", "toc_pages", "PDF_FOLDER", "BOOK_PDF", "chapters",
           "book_notebooks", "is_notebook", "BuiltBook", "EXECUTED_FOLDER", "executed_dir",
           "glue_data", "unwrap_numpy_scalar",
           "build", "ExecutedNotebook", "executed", "execute", "parse_glued_text",
           "execution_seconds", "serve", "NotebookError"]


# ---- the table of contents -------------------------------------------------------------------

def find_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that holds both
    ``_toc.yml`` and ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    raise FileNotFoundError(f"no book (_toc.yml and _config.yml) at or above {here}")


def toc_entries(root=None) -> list[dict]:
    """Every page of ``_toc.yml`` in reading order, the root page first, as
    ``{"file": "chapters/01_change_of_variables", "part": caption, "numbered": bool}``."""
    import yaml

    root = Path(root) if root else find_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = [{"file": toc["root"], "part": None, "numbered": False}]

    def walk(items, part, numbered):
        for item in items or []:
            if "file" in item:
                entries.append({"file": re.sub(r"\.(md|ipynb)$", "", item["file"]),
                                "part": part, "numbered": numbered})
            walk(item.get("sections"), part, numbered)
            walk(item.get("chapters"), part, numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption"), bool(part.get("numbered")))
    walk(toc.get("chapters"), None, False)
    return entries


def toc_pages(root=None) -> list[Path]:
    """Every source file listed in ``_toc.yml`` (the root page first), in reading order."""
    root = Path(root) if root else find_root()
    return [_source_for(root, entry["file"]) for entry in toc_entries(root)]


def _source_for(root: Path, name: str) -> Path:
    for suffix in (".md", ".ipynb"):
        candidate = root / (name + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"_toc.yml lists {name!r} but no {name}.md or {name}.ipynb exists")


def is_notebook(path) -> bool:
    """True for a ``.ipynb``, or a ``.md`` whose front matter declares jupytext and a kernelspec."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md" or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front_matter = text.split("\n---", 1)[0]
    return "jupytext:" in front_matter and "kernelspec:" in front_matter


def book_notebooks(root=None) -> list[Path]:
    """Every page of ``_toc.yml`` that is a notebook."""
    return [p for p in toc_pages(root) if is_notebook(p)]


def chapters(root=None) -> list[Path]:
    """The chapter notebooks (``chapters/NN_*.md``) in ``_toc.yml`` order."""
    return [p for p in book_notebooks(root)
            if p.parent.name == "chapters" and re.match(r"\d\d_", p.name)]


# ---- building --------------------------------------------------------------------------------

#: where the built site keeps its PDFs (``make pdf``): ``pdf/<page>.pdf`` and ``pdf/book.pdf``
PDF_FOLDER = "pdf"
BOOK_PDF = "book.pdf"

@dataclass
class BuiltBook:
    html: Path          # the folder holding index.html
    log: str            # everything the build printed ("" for an existing build that was reused)
    returncode: int
    seconds: float

    @property
    def executed_dir(self) -> Path:
        """Where the build wrote each notebook as executed (``<page>.ipynb``)."""
        return executed_dir(self.html)


#: the folder, beside the HTML output, where myst-nb writes each executed notebook
#: (``<page>.ipynb``) and what it glued (``<page>.glue.json``)
EXECUTED_FOLDER = "jupyter_execute"


def executed_dir(html) -> Path:
    """The folder of executed notebooks of the site built into ``html``."""
    return Path(html).parent / EXECUTED_FOLDER


def glue_data(html, page: str) -> dict:
    """The outputs myst-nb glued when it executed ``page`` (e.g. ``"chapters/01_x"``), keyed by
    name, as it wrote them to ``<page>.glue.json`` (empty if the page glued nothing)."""
    path = executed_dir(html).joinpath(*(page + ".glue.json").split("/"))
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def build(root, output, *, jobs: int = 2) -> BuiltBook:
    """Strict build of the book in ``root`` into ``output/_build/html``, in a subprocess.

    Every notebook is executed afresh (no execution cache), so edits to nflib are really run;
    ``jobs`` Sphinx processes read and execute pages in parallel.
    """
    root, output = Path(root).resolve(), Path(output).resolve()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nflib.course.book", "build", str(root),
                           str(output), "--jobs", str(int(jobs))],
                          cwd=root, capture_output=True, text=True)
    return BuiltBook(html=output / "_build" / "html", log=proc.stdout + proc.stderr,
                     returncode=proc.returncode, seconds=time.perf_counter() - start)


def _build_in_process(root: Path, output: Path, jobs: int) -> int:
    """What ``jupyter-book build ROOT -W -n --keep-going`` does, with parallel jobs and forced
    execution, into ``output/_build/html``."""
    from jupyter_book.sphinx import build_sphinx

    _use_private_kernel_sockets()
    for name in ("sphinx_multitoc_numbering", "sphinx_jupyterbook_latex"):
        _declare_parallel_safe(name)
    _let_proof_domain_merge()
    _read_one_page_per_process(root)
    overrides = {"external_toc_path": str(root / "_toc.yml"), "latex_individualpages": False,
                 "nitpicky": True, "nb_execution_mode": "force"}
    result = build_sphinx(root, output / "_build" / "html", noconfig=True,
                          path_config=str(root / "_config.yml"), confoverrides=overrides,
                          builder="html", warningiserror=True, keep_going=True, jobs=jobs)
    if isinstance(result, Exception):
        print(f"ERROR: the build failed: {result!r}", file=sys.stderr)
        return 1
    return int(result)


def _private_socket_prefix() -> str:
    """A path prefix for one kernel's IPC sockets, in a folder of its own (removed at exit)."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="nflib-kernel-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(Path(folder) / "kernel")


def _use_private_kernel_sockets() -> None:
    """Connect every kernel started in this process through IPC sockets in a folder of its own.

    With TCP, jupyter_client picks free ports and the kernel binds them a moment later: two
    notebooks started at once in parallel processes can be given the same port, and a client then
    waits forever on an idle kernel (seen in parallel builds of this book). Socket files in a
    private folder cannot collide.
    """
    from jupyter_client.connect import ConnectionFileMixin

    traits = ConnectionFileMixin.class_traits()
    traits["transport"].default_value = "ipc"
    write = ConnectionFileMixin.write_connection_file
    if getattr(write, "private_sockets", False):
        return

    def write_private(self, **kwargs):
        if self.transport == "ipc" and not Path(self.ip).is_absolute():
            self.ip = _private_socket_prefix()
        return write(self, **kwargs)

    write_private.private_sockets = True
    ConnectionFileMixin.write_connection_file = write_private


def _declare_parallel_safe(module_name: str) -> None:
    """Mark an extension that does not say whether it is parallel safe as safe, so Sphinx reads
    (and myst-nb executes) pages in parallel instead of warning and reading serially.

    Only for extensions checked to be safe, both loaded by Jupyter Book: sphinx_multitoc_numbering
    replaces the section numbering, which runs once in the main process after the parallel reads
    are merged; sphinx_jupyterbook_latex adds node types and per-document transforms that keep
    no state between documents.
    """
    import importlib

    module = importlib.import_module(module_name)
    setup = module.setup
    if getattr(setup, "declared_parallel_safe", False):
        return

    def declared(app):
        meta = setup(app) or {}
        return {**meta, "parallel_read_safe": True, "parallel_write_safe": True}

    declared.declared_parallel_safe = True
    module.setup = declared


def _let_proof_domain_merge() -> None:
    """sphinx-proof declares itself parallel safe and merges its proofs itself (on
    ``env-merge-info``), but its domain keeps no data and lacks the ``merge_domaindata`` that
    Sphinx calls after a parallel read: there is nothing to merge, so merging does nothing."""
    from sphinx_proof.domain import ProofDomain

    if "merge_domaindata" not in vars(ProofDomain):
        ProofDomain.merge_domaindata = lambda self, docnames, otherdata: None


def _read_one_page_per_process(root: Path) -> None:
    """Sphinx reads in parallel by cutting the sorted page list into a few long runs, so all
    the chapters would land in one process and execute one after another. Give each page its
    own process instead, the longest (by source size, a proxy for execution time) first, so
    that ``jobs`` processes stay busy until the end."""
    import sphinx.builders

    def size(docname: str) -> int:
        return max((p.stat().st_size for p in root.glob(docname + ".*")), default=0)

    def one_page_each(docnames, nproc, maxbatch=10):
        return [[name] for name in sorted(docnames, key=size, reverse=True)]

    sphinx.builders.make_chunks = one_page_each


# ---- executed notebooks ----------------------------------------------------------------------

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
    """``"np.float64(0.58)"`` -> ``"0.58"``: a numpy scalar's repr as the number it shows."""
    text = text.strip()
    match = _NUMPY_SCALAR.match(text)
    return match.group(1) if match else text


def parse_glued_text(text: str):
    """The text/plain form of a glued value back as a Python value.

    Numbers (numpy scalars shown as ``np.float64(0.58)`` included), strings, lists, tuples and
    dicts of those come back as Python objects; anything else is returned as the text.
    """
    text = unwrap_numpy_scalar(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def glued_values(notebook) -> dict:
    """name -> value of every ``myst_nb.glue`` in an executed notebook."""
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
    glued = glued_values(notebook)
    for name, output in glue_data(built.html, str(relative.with_suffix(""))).items():
        text = output.get("data", {}).get("text/plain")
        if text is not None:
            glued[name] = parse_glued_text(text)
    return ExecutedNotebook(path=root / page, notebook=notebook, glued=glued, seconds=seconds)


def execute(path, timeout: int = 300) -> ExecutedNotebook:
    """Run a notebook (MyST ``.md`` or ``.ipynb``) top to bottom on a fresh kernel, with its
    folder as working directory, as myst-nb does; a failing cell raises ``NotebookError``."""
    import jupytext
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path).resolve()
    notebook = jupytext.read(str(path))
    # IPC sockets of its own: TCP ports can collide with a kernel started at the same moment
    # by another process (see _use_private_kernel_sockets)
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=_private_socket_prefix())
    client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        raise NotebookError(_error_message(path, notebook, exc)) from None
    return ExecutedNotebook(path=path, notebook=notebook, glued=glued_values(notebook),
                            seconds=time.perf_counter() - start)


def _error_message(path: Path, notebook, exc) -> str:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"{path.name}: cell {index} raised {output.get('ename')}: "
                        f"{output.get('evalue')}\n--- cell source ---\n{cell.source}\n"
                        "--- end of cell ---")
    return f"{path.name}: execution failed: {exc}"


def execution_seconds(html) -> dict:
    """page (e.g. ``"chapters/01_change_of_variables"``) -> seconds its notebook took to execute
    in the build, read from the built ``execution_statistics.html`` page."""
    page = Path(html) / "execution_statistics.html"
    if not page.is_file():
        return {}
    text = page.read_text(encoding="utf-8")
    times = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", text, re.DOTALL):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                        row, re.DOTALL)]
        if len(cells) >= 4:
            try:
                times[cells[0]] = float(cells[3])
            except ValueError:
                continue
    return times


# ---- serving ---------------------------------------------------------------------------------

@contextmanager
def serve(html):
    """Serve the folder ``html`` on 127.0.0.1 (an ephemeral port) while in the block; yields the
    base URL, e.g. ``http://127.0.0.1:41234/``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def end_headers(self):
            # like a static host: the theme's shared files may be cached while a tab browses
            if self.path.startswith("/_static/"):
                self.send_header("Cache-Control", "max-age=3600")
            super().end_headers()

    handler = functools.partial(Quiet, directory=str(html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nflib.course.book")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="strict build with every notebook executed afresh")
    cmd.add_argument("root", type=Path)
    cmd.add_argument("output", type=Path)
    cmd.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    return _build_in_process(args.root.resolve(), args.output.resolve(), args.jobs)


if __name__ == "__main__":
    sys.exit(main())
