"""A strict build of the book: what ``jupyter-book build . -W -n --keep-going`` does, with every
notebook executed afresh and ``jobs`` processes reading and executing pages in parallel.

The build runs in a subprocess (``python -m book build ROOT OUTPUT --jobs 2``) so that its output
is captured and the run-time adjustments below touch only that process. Four adjustments remain,
each because the tool chain has no switch for it (checked with myst-nb 1.x, jupyter-book 1.x and
Sphinx 7):

* kernels on private IPC sockets: myst-nb starts each kernel through jupyter-cache and nbclient
  without passing any kernel-manager configuration, so ``transport="ipc"`` cannot be asked for;
* two extensions loaded by Jupyter Book that do not declare themselves parallel safe;
* sphinx-proof's domain, which lacks the ``merge_domaindata`` a parallel read calls;
* one page per reading process: Sphinx cuts the page list into a few long runs and offers no
  setting for the chunk size.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: this package's parent folder (``tools/``), put on the build subprocess's path
TOOLS = Path(__file__).resolve().parents[1]

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
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLS), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "book", "build", str(root), str(output),
                           "--jobs", str(int(jobs))],
                          cwd=root, capture_output=True, text=True, env=env)
    return BuiltBook(html=output / "_build" / "html", log=proc.stdout + proc.stderr,
                     returncode=proc.returncode, seconds=time.perf_counter() - start)


def build_in_process(root: Path, output: Path, jobs: int) -> int:
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


def private_socket_prefix() -> str:
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
            self.ip = private_socket_prefix()
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
