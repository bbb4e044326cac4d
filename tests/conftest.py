"""Shared fixtures: the strictly built book, built once per session in the background.

As soon as the tests are collected, the book is built in a subprocess (``book``, in tools/book:
warnings are errors, every notebook executed afresh, three Sphinx processes reading and executing
pages in parallel) while the tests that do not need it run; those that do run last and wait for
it. Chapter tests read each notebook as the build executed it (``nb``, ``glued``), so every
notebook is executed once per run. Set BOOK_HTML=path/to/_build/html to test an existing build,
or NB_EXECUTE=1 to have ``nb`` execute just the module's chapter on a fresh kernel (no build):

    NB_EXECUTE=1 pytest tests/test_chapter03.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

# One BLAS thread: the test matrices are tiny, and on a busy 2-core machine two spinning BLAS
# threads per process made the gradient checks over ten times slower. Read when numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import book  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_BUILD: dict = {}
#: Sphinx processes of the suite's build (each executes its pages' notebooks). Three on the 2-core
#: machine: the build alone took 141 s (189 % of one core) against 162 s (164 %) with two.
BUILD_JOBS = 3
#: fixtures that hand a test an executed notebook (from the build, or with NB_EXECUTE=1 alone)
NOTEBOOK_FIXTURES = {"nb", "glued", "executed_page"}


def _execute_alone() -> bool:
    return os.environ.get("NB_EXECUTE", "") not in ("", "0")


def _needs_book(item) -> bool:
    """Whether a test needs the built book (directly, or through ``nb``/``glued``)."""
    names = set(getattr(item, "fixturenames", ()))
    return "built_book" in names or (not _execute_alone() and bool(names & NOTEBOOK_FIXTURES))


def _needs_notebook(item) -> bool:
    return _needs_book(item) or bool(set(getattr(item, "fixturenames", ())) & NOTEBOOK_FIXTURES)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test that needs the built book is slow (marked here, before ``-m`` selects), and
    runs last, so the others run while the book builds."""
    for item in items:
        if _needs_notebook(item):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_needs_notebook)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``make test`` runs ``pytest -n 2``): the tests that look at one page of
    the built site go to one worker, which visits the page once; a browser module's other tests
    stay together (their fixtures are made once); every other test is shared out on its own, in
    collection order (the tests that need the book last)."""
    from xdist.scheduler import LoadScopeScheduling

    # keep the collection order (xdist would start with the largest units: the pages, which wait
    # for the book while the tests that need no book could run)
    config.option.loadscopereorder = False

    class OnePagePerWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return OnePagePerWorker(config, log)


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: a page of the site (a parameter naming a built
    ``.html`` page), a module of the browser suite, or the test alone."""
    page = re.search(r"\[([^\]]*?\.html)", nodeid)
    if page:
        return f"page {page.group(1)}"
    if nodeid.startswith("tests/browser/"):
        return nodeid.split("::", 1)[0]
    return nodeid


def _xdist_run(config) -> str | None:
    """The id of this pytest-xdist run, shared by its workers (None when not under xdist)."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["testrunuid"] if workerinput else None


def _shared_build_folder(run: str) -> Path:
    return Path(tempfile.gettempdir()) / f"nflib-book-{run}"


def _build_and_share(folder: Path) -> book.BuiltBook:
    """Build into ``folder`` and write the outcome where the other workers of the run read it."""
    built = book.build(ROOT, folder, jobs=BUILD_JOBS)
    outcome = {"html": str(built.html), "log": built.log, "returncode": built.returncode,
               "seconds": built.seconds}
    partial = folder / "outcome.json.partial"
    partial.write_text(json.dumps(outcome), encoding="utf-8")
    partial.rename(folder / "outcome.json")
    return built


def _wait_for_shared_build(folder: Path, timeout: float = 3600.0) -> book.BuiltBook:
    """The build another worker of this run is making (it writes ``outcome.json`` when done)."""
    outcome = folder / "outcome.json"
    deadline = time.monotonic() + timeout
    while not outcome.is_file():
        if time.monotonic() > deadline:
            pytest.fail(f"no worker finished building the book into {folder} in {timeout:.0f} s")
        time.sleep(1.0)
    data = json.loads(outcome.read_text(encoding="utf-8"))
    return book.BuiltBook(html=Path(data["html"]), log=data["log"],
                          returncode=data["returncode"], seconds=data["seconds"])


def pytest_configure(config):
    """Under pytest-xdist, the controller names the run itself (``--testrunuid``), so that once
    every worker is done it knows which shared build folder to remove."""
    under_xdist = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    if under_xdist and getattr(config.option, "testrunuid", None) is None:
        config.option.testrunuid = uuid.uuid4().hex


def pytest_collection_finish(session):
    """Start the build as soon as it is known that some selected test needs it: in this process,
    or, under pytest-xdist, in the first worker to get here (the others wait for its outcome)."""
    if os.environ.get("BOOK_HTML") or session.config.option.collectonly:
        return
    if not any(_needs_book(item) for item in session.items):
        return
    run = _xdist_run(session.config)
    if run is None:
        _BUILD["folder"] = Path(tempfile.mkdtemp(prefix="nflib-book-"))
        task = partial(book.build, ROOT, _BUILD["folder"], jobs=BUILD_JOBS)
    else:
        output = _shared_build_folder(run)
        try:
            output.mkdir()            # atomic: exactly one worker of the run builds
        except FileExistsError:
            _BUILD["shared"] = output
            return
        task = partial(_build_and_share, output)
    executor = ThreadPoolExecutor(max_workers=1)
    _BUILD["future"] = executor.submit(task)
    _BUILD["executor"] = executor


def pytest_sessionfinish(session, exitstatus):
    """Wait for a build still running; then remove the build folder of a run that passed (the
    controller does it under xdist, once every worker is done). A failed run keeps it to look at."""
    executor = _BUILD.pop("executor", None)
    if executor is not None:
        executor.shutdown(wait=True)
    config = session.config
    if "timing" in _BUILD:
        if hasattr(config, "workeroutput"):
            config.workeroutput["book_timing"] = _BUILD["timing"]
        else:
            _BOOK_TIMINGS.append(("the tests", _BUILD["timing"]))
    if hasattr(config, "workerinput"):
        return
    run = getattr(config.option, "testrunuid", None)
    folder = _shared_build_folder(run) if run else _BUILD.get("folder")
    if folder is None or not folder.exists():
        return
    if exitstatus == 0:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"the built book is kept in {folder}")


@pytest.fixture(scope="session")
def built_book() -> book.BuiltBook:
    """The built site. Set BOOK_HTML=path/to/_build/html to test an existing build instead."""
    existing = os.environ.get("BOOK_HTML")
    if existing:
        html = Path(existing).resolve()
        if not (html / "index.html").exists():
            pytest.fail(f"BOOK_HTML={existing} has no index.html")
        return book.BuiltBook(html=html, log="", returncode=0, seconds=0.0)
    start = time.monotonic()
    if "shared" in _BUILD:
        built = _wait_for_shared_build(_BUILD["shared"])
    elif "future" not in _BUILD:  # e.g. a test that asks for it indirectly
        _BUILD["folder"] = Path(tempfile.mkdtemp(prefix="nflib-book-"))
        built = book.build(ROOT, _BUILD["folder"], jobs=BUILD_JOBS)
    else:
        built = _BUILD["future"].result()
    _BUILD["timing"] = {"built": built.seconds, "waited": time.monotonic() - start}
    return built


# ---- how long the build took and the tests waited for it, printed after the run --------------

_BOOK_TIMINGS: list[tuple[str, dict]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Under pytest-xdist: what a worker reports of the build when it finishes."""
    timing = getattr(node, "workeroutput", {}).get("book_timing")
    if timing:
        _BOOK_TIMINGS.append((node.gateway.id, timing))


def pytest_terminal_summary(terminalreporter):
    if not _BOOK_TIMINGS:
        return
    built = max(timing["built"] for _, timing in _BOOK_TIMINGS)
    waits = ", ".join(f"{name} {timing['waited']:.0f} s" for name, timing in sorted(_BOOK_TIMINGS))
    terminalreporter.write_sep("-", "the book")
    terminalreporter.write_line(f"built in {built:.0f} s ({BUILD_JOBS} Sphinx processes); "
                                f"the tests that need it waited for it: {waits}")


@pytest.fixture(scope="session")
def executed_page(request):
    """``executed_page("chapters/04_coupling_flows")`` -> that page as the strict build executed
    it (with NB_EXECUTE=1: executed alone on a fresh kernel, once per session, no build)."""
    def executed(page):
        page = str(page)
        if _execute_alone():
            from notebooks import execute_notebook

            return execute_notebook(page if page.endswith((".md", ".ipynb")) else page + ".md")
        built_book = request.getfixturevalue("built_book")
        if built_book.returncode != 0:
            pytest.fail(f"the book did not build, so {page} was not executed:\n"
                        f"{built_book.log[-4000:]}")
        return book.executed(built_book, page, ROOT)

    return executed


@pytest.fixture(scope="module")
def nb(request, executed_page):
    """The notebook named by the test module's ``CHAPTER``, as the strict build executed it
    (with NB_EXECUTE=1: executed alone on a fresh kernel)."""
    return executed_page(request.module.CHAPTER)


@pytest.fixture(scope="module")
def glued(nb):
    """The values the module's ``CHAPTER`` glued into its text, by glue name."""
    return nb.glued
