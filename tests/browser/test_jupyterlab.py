"""The chapters and exercises in a real JupyterLab, opened as a reader opens them from the site.

JupyterLab (the versions Binder installs) is started on 127.0.0.1 with Binder's settings
(``binder/overrides.json``) in a folder laid out as Binder's ``postBuild`` lays it out
(``tools/lab_notebooks.py`` on the session's built book). For each page the test takes the path
the page's Binder button opens (its ``urlpath``), opens it in Chromium, runs all cells from the
Run menu, and reads the rendered notebook: no raw glue key or MyST role, no reference or citation
that jupyterlab-myst could not resolve, every glued number of the page in the text, the figures
and their numbered captions, no failing cell, and in an exercise no solution code.

`make test` runs one chapter and one exercise (the machinery is the same for every page, and each
run executes its notebook again, which the build has done); `make test-lab` (LAB_ALL=1) runs
every page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nbformat
import pytest

from browsing import ROOT, toc_entries
from lab_notebooks import write as write_lab_notebooks
from notebook_downloads import format_glued

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "book-test"
QUICK = ["chapters/01_change_of_variables", "exercises/03_autoregressive_flows"]
ALL = [e["file"] for e in toc_entries() if e["file"].startswith(("chapters/", "exercises/"))]
PAGES = ALL if os.environ.get("LAB_ALL") else [p for p in QUICK if p in ALL]
RUN_TIMEOUT_MS = 900_000

_STARTED_JS = r"""() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))
    .some(e => /\d|\*/.test(e.textContent))"""
_QUEUED_JS = r"""() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))
    .some(e => e.textContent.includes('*'))"""

_FACTS_JS = r"""() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const markdown = Array.from(panel.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst'));
    const text = markdown.map(m => {
        const clone = m.cloneNode(true);
        clone.querySelectorAll('.katex-mathml, mjx-assistive-mml, script').forEach(e => e.remove());
        return clone.innerText;
    }).join('\n');
    const unresolved = Array.from(panel.querySelectorAll('[title$="Not Found"], .text-yellow-600'))
        .map(e => `${e.getAttribute('title') || ''}: ${e.textContent.trim().slice(0, 60)}`);
    const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent.trim());
    const errors = Array.from(panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
        .map(e => e.innerText.slice(0, 300));
    const code = Array.from(panel.querySelectorAll('.jp-CodeCell .cm-content')).map(e => e.innerText).join('\n');
    const images = panel.querySelectorAll('.jp-OutputArea-output img, .jp-OutputArea-output svg.main-svg').length;
    return {text, unresolved, prompts, errors, code, images, markdownCells: markdown.length};
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def lab(built_book, tmp_path_factory):
    """JupyterLab serving a folder laid out as Binder's postBuild lays it out; yields
    (base URL, folder)."""
    if built_book.returncode != 0:
        pytest.fail(f"the book did not build:\n{built_book.log[-4000:]}")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("JupyterLab is not installed: pip install -r requirements-lab.txt")
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "repository"
    write_lab_notebooks(built_book.html, root / "notebooks")
    settings = home / "app-settings"
    settings.mkdir()
    shutil.copyfile(ROOT / "binder" / "overrides.json", settings / "overrides.json")
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    port = _free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
               f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={settings}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(home / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (home / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _accept_dialogs(page) -> None:
    """Take what a dialog proposes: on a busy machine JupyterLab may open a notebook before it
    has the list of kernels and then asks which to start, proposing the notebook's Python 3."""
    dialog = page.locator(".jp-Dialog")
    while dialog.count():
        dialog.first.locator("button.jp-mod-accept").click()
        page.wait_for_timeout(500)


def _kernels(base: str) -> list[dict] | None:
    """The server's kernels, or None while it cannot list them: jupyter_server answers 500 to a
    listing made while a kernel is starting (its ``last_activity`` is not set yet)."""
    try:
        with urllib.request.urlopen(f"{base}api/kernels?token={TOKEN}", timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            return None
        raise


def _kernel_ready(page, base: str) -> None:
    """Wait until the notebook's kernel has started (answering any dialog on the way)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        _accept_dialogs(page)
        kernels = _kernels(base)
        if kernels and all(k.get("execution_state") == "idle" for k in kernels):
            return
        page.wait_for_timeout(1000)
    raise AssertionError("the notebook's kernel did not start")


def _wait_until_started(page, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not page.evaluate(_STARTED_JS):
        if time.monotonic() > deadline:
            raise AssertionError("Run All Cells started no cell")
        _accept_dialogs(page)
        page.wait_for_timeout(1000)


def _shut_down_kernels(base: str) -> None:
    """Stop every session's kernel, so that the next page starts its own (as on Binder)."""
    with urllib.request.urlopen(f"{base}api/sessions?token={TOKEN}", timeout=10) as answer:
        sessions = json.loads(answer.read())
    for session in sessions:
        request = urllib.request.Request(f"{base}api/sessions/{session['id']}?token={TOKEN}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def _menu(page, menu: str, command: str) -> None:
    _accept_dialogs(page)
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.locator(f'li[data-command="{command}"]').click()


def _wait_until_idle(page, base: str, quiet_seconds: float = 3.0) -> None:
    """Wait until no cell is queued and every kernel has been idle for ``quiet_seconds``."""
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        kernels = _kernels(base)
        _accept_dialogs(page)
        idle = kernels is not None and all(k.get("execution_state") == "idle" for k in kernels)
        if idle and not page.evaluate(_QUEUED_JS):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_seconds:
                return
        else:
            quiet_since = None
        page.wait_for_timeout(1000)
    raise AssertionError("the notebook was still running after the time allowed")


def launch_path(html: Path, docname: str, solutions: bool = False) -> str:
    """The path the page's Binder button opens in JupyterLab (``urlpath``), e.g.
    'lab/tree/notebooks/chapters/01_x.ipynb'."""
    page = (html / (docname + ".html")).read_text(encoding="utf-8")
    for link in re.findall(r'href="(https://mybinder\.org/v2/[^"]+)"', page):
        urlpath = parse_qs(urlparse(link.replace("&amp;", "&")).query).get("urlpath", [""])[0]
        if urlpath.startswith("lab/tree/") and ("/solutions/" in urlpath) == solutions:
            return urlpath
    raise AssertionError(f"{docname}: no Binder button on the page")


def _glued(built_book, docname: str) -> dict:
    """The page's glued outputs by name, as the build saved them."""
    glue_file = built_book.executed_dir / (docname + ".glue.json")
    return json.loads(glue_file.read_text()) if glue_file.is_file() else {}


def _glue_names(built_book, docname: str) -> list[str]:
    return sorted(_glued(built_book, docname))


def _glued_values(built_book, docname: str) -> list[str]:
    """Every value the page's text shows through {glue:text}, formatted as on the site."""
    executed = nbformat.read(built_book.executed_dir / (docname + ".ipynb"), as_version=4)
    text = "\n".join(c.source for c in executed.cells if c.cell_type == "markdown")
    glued = _glued(built_book, docname)
    values = []
    for key, fmt in re.findall(r"\{glue:text\}`(\w+)(?::([^`\n]*))?`", text):
        if key in glued:
            values.append(format_glued(glued[key]["data"]["text/plain"], fmt or ""))
    return values


def _solution_lines(docname: str) -> list[str]:
    """Distinctive lines of the solution code of the instructor notebook of ``docname``."""
    text = (ROOT / (docname + ".md")).read_text(encoding="utf-8")
    learner = (ROOT / "exercises" / "learner" / (Path(docname).name + ".md")).read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", text, re.S):
        lines += [line.strip() for line in block.splitlines()
                  if len(line.strip()) >= 20 and line.strip() not in learner]
    return lines


@pytest.mark.parametrize("docname", PAGES)
def test_page_runs_in_jupyterlab_and_reads_like_the_site(browser, lab, built_book, docname):
    base, root = lab
    urlpath = launch_path(built_book.html, docname)
    assert urlpath == f"lab/tree/notebooks/{docname}.ipynb", urlpath
    file = root / urlpath.removeprefix("lab/tree/")
    assert file.is_file(), f"the Binder button opens {urlpath}, which postBuild does not write"
    exercise = docname.startswith("exercises/")
    if exercise:
        content = file.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in content and "raise NotImplementedError" in content
        leaked = [line for line in _solution_lines(docname) if line in content]
        assert not leaked, f"{docname}: solution code in the learner notebook: {leaked[:3]}"

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # ?reset: a new workspace, as a reader arriving from the site has (not the last test's tabs)
        page.goto(f"{base}{urlpath}?reset&token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=300_000)
        _kernel_ready(page, base)
        _menu(page, "Run", "runmenu:run-all")
        _wait_until_started(page)
        _wait_until_idle(page, base)
        facts = page.evaluate(_FACTS_JS)
        # save, so that the file tells which cells ran (hidden cells show no prompt)
        _menu(page, "File", "docmanager:save")
        page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')",
                               timeout=60_000)
        page.wait_for_timeout(500)
    finally:
        context.close()
        _shut_down_kernels(base)
    ran = nbformat.read(file, as_version=4)
    code_cells = [c for c in ran.cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(code_cells) if c.get("execution_count") is None]
    assert not unexecuted, f"{docname}: code cells {unexecuted[:5]} of {len(code_cells)} did not run"

    text = facts["text"]
    assert facts["markdownCells"] > 3, f"{docname}: the notebook's text did not render"
    assert not facts["errors"], f"{docname}: a cell failed: {facts['errors'][0]}"
    # a MyST role left as typed, or one of the page's glue names shown instead of its value (a
    # module such as nflib.course.ch03_autoregressive, named in the prose, is neither)
    raw = re.findall(r"\{(?:glue|numref|ref|eq|cite|doc|term)[:}][^\s]*", text)
    raw += [name for name in _glue_names(built_book, docname)
            if re.search(rf"\b{re.escape(name)}\b", text)]
    assert not raw, f"{docname}: raw MyST roles or glue keys in the text: {raw[:5]}"
    assert not facts["unresolved"], f"{docname}: unresolved references: {facts['unresolved'][:5]}"
    flat = " ".join(text.split())
    missing = [v for v in _glued_values(built_book, docname) if v not in flat]
    assert not missing, f"{docname}: glued values not in the text: {missing[:5]}"
    chapter = int(Path(docname).name[:2])
    if exercise:
        assert re.search(rf"Exercise {chapter}\.\d+", flat), f"{docname}: no exercise numbered {chapter}.k"
        assert "raise NotImplementedError" in facts["code"]
        assert "BEGIN SOLUTION" not in facts["code"]
    else:
        figures = len(re.findall(rf"Fig\. {chapter}\.\d+", flat))
        assert figures, f"{docname}: no numbered figure caption"
        assert facts["images"] >= 1, f"{docname}: no figure drawn"
