"""Downloaded notebooks stand alone: each notebook page of the built site offers an .ipynb whose
text holds the glued values and no MyST, and that runs top to bottom in an empty folder.
Exercise pages offer the learner version, and the instructor version only as the solutions."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from notebooks import ROOT, toc_pages

from myst_to_jupyter import Resolver, convert_code, convert_markdown, leftover_myst
from notebook_downloads import format_glued, is_myst_notebook, learner_source, site_url


# --------------------------------------------------------------------------- the conversion

class FakeBook(Resolver):
    def glue(self, key, fmt):
        return format({"a": 0.5804, "n": 12}[key], fmt or "")

    def link(self, kind, target, title):
        return (title or target.upper()), f"https://site/{kind}/{target}"

    def equation(self, label):
        return {"eq-one": "1.2"}.get(label)

    def cite(self, keys, kind):
        return "Dinh et al. (2017)" if kind == "t" else "(Dinh et al., 2017)"


def test_glued_values_are_written_into_the_text():
    text = convert_markdown("KL is {glue:text}`a:.3f` nats after {glue:text}`n` steps.", FakeBook())
    assert text == "KL is 0.580 nats after 12 steps."


def test_references_become_links_and_numbers():
    text = convert_markdown("See {ref}`the start <sec-a>`, {numref}`fig-b`, {eq}`eq-one`, "
                            "a {term}`flow` and {cite:t}`dinh2017`; {cite:p}`dinh2017`.", FakeBook())
    assert text == ("See [the start](https://site/ref/sec-a), [FIG-B](https://site/numref/fig-b), "
                    "(1.2), a [FLOW](https://site/term/flow) and Dinh et al. (2017); "
                    "(Dinh et al., 2017).")


def test_directives_become_markdown_jupyter_renders():
    source = "\n".join([
        "(sec-a)=", "## A section", "% a comment", "",
        "```{math}", ":label: eq-one", r"\log p = 1", "```", "",
        "1. A problem.", "",
        "   ```{dropdown} Solution", "   It is {glue:text}`a:.2f`.", "   ```", "",
        "```{note}", "Mind the sign.", "```", "",
        "```{code-block} python", "x = {1: 2}", "```",
    ])
    text = convert_markdown(source, FakeBook())
    assert not leftover_myst(text), leftover_myst(text)
    assert "(sec-a)=" not in text and "a comment" not in text
    assert "$$\n\\log p = 1\n\\tag{1.2}\n$$" in text
    assert "   <details>\n   <summary>Solution</summary>\n\n   It is 0.58.\n\n   </details>" in text
    assert "> **Note**\n>\n> Mind the sign." in text
    assert "```python\nx = {1: 2}\n```" in text


def test_exercise_directives_become_headings():
    text = convert_markdown("```{exercise-start} Planar layers\n:label: ex-02-planar\n```\n"
                            "Do it.\n```{exercise-end}\n```", Resolver())
    assert text.startswith("## Exercise: Planar layers") and "Do it." in text
    assert not leftover_myst(text)


def test_glue_runs_without_myst_nb():
    code = convert_code("import numpy as np\nfrom myst_nb import glue\nglue('x', 1, display=False)")
    namespace = {}
    blocked = {"myst_nb": None}
    saved = {k: sys.modules.get(k) for k in blocked}
    sys.modules.update(blocked)   # importing myst_nb now raises ImportError
    try:
        exec(compile(code, "cell", "exec"), namespace)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    assert callable(namespace["glue"])


def test_leftover_myst_is_found():
    assert leftover_myst("a {term}`flow` here")
    assert leftover_myst("```{dropdown} x\n```")
    assert leftover_myst("(label)=\n# T")
    assert not leftover_myst("plain $x_{1}$ and `code` and [link](u)")


def test_site_address_follows_the_repository():
    class Config:
        html_baseurl = ""
        html_theme_options = {"repository_url": "https://github.com/Someone/my-flows"}

    assert site_url(Config) == "https://someone.github.io/my-flows/"
    Config.html_baseurl = "https://flows.example.org/book"
    assert site_url(Config) == "https://flows.example.org/book/"


# --------------------------------------------------------------------------- the built site

NOTEBOOK_PAGES = [p for p in toc_pages() if is_myst_notebook(str(p))]


def _docname(source: Path) -> str:
    return str(source.relative_to(ROOT).with_suffix(""))


def _markdown(notebook) -> str:
    return "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def _code(notebook) -> str:
    return "\n\n".join(c.source for c in notebook.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def downloads(built_book):
    if built_book.returncode != 0:
        pytest.fail(f"the book did not build:\n{built_book.log[-4000:]}")
    return built_book.html / "_sources"


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_download_has_no_myst_and_holds_the_glued_values(downloads, built_book, source):
    docname = _docname(source)
    path = downloads / (docname + ".ipynb")
    assert path.is_file(), f"{docname}: no notebook download {path}"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    text = _markdown(notebook)
    assert not leftover_myst(text), f"{docname}: MyST left in the download: {leftover_myst(text)[:8]}"
    assert "on the website)" not in text, f"{docname}: a glued value was missing at build time"
    executed = built_book.executed_dir
    glue_file = executed / (docname + ".glue.json")
    # the text as the book executed it (the download is made from it)
    built = nbformat.read(executed / (docname + ".ipynb"), as_version=4)
    roles = re.findall(r"\{glue:text\}`([\w]+)(?::([^`\n]*))?`", _markdown(built))
    if roles and learner_source(ROOT, docname) is None:
        glued = json.loads(glue_file.read_text())
        for key, fmt in roles:
            value = format_glued(glued[key]["data"]["text/plain"], fmt or "")
            assert value in text, f"{docname}: the glued value {key} = {value} is not in the text"


@pytest.mark.slow
@pytest.mark.parametrize("source", [p for p in NOTEBOOK_PAGES if learner_source(ROOT, _docname(p))],
                         ids=_docname)
def test_exercise_pages_offer_the_learner_version_and_the_solutions_apart(downloads, source):
    docname = _docname(source)
    learner = nbformat.read(downloads / (docname + ".ipynb"), as_version=4)
    solutions = nbformat.read(downloads / (docname + "-solutions.ipynb"), as_version=4)
    assert "raise NotImplementedError" in _code(learner)
    assert "# BEGIN SOLUTION" not in _code(learner), f"{docname}: the download holds the solutions"
    assert "# BEGIN SOLUTION" in _code(solutions)
    page = (downloads.parent / (docname + ".html")).read_text(encoding="utf-8")
    assert f"{Path(docname).name}-solutions.ipynb" in page, f"{docname}: no solutions link"
    assert f"learner/{Path(docname).name}.md" in page, f"{docname}: the .md offered is not the learner's"


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_every_page_links_its_pdf_not_the_print_dialog(downloads, source):
    docname = _docname(source)
    page = (downloads.parent / (docname + ".html")).read_text(encoding="utf-8")
    assert "window.print()" not in page
    assert f"pdf/{docname}.pdf" in page and "pdf/book.pdf" in page


@pytest.mark.slow
@pytest.mark.parametrize("name", ["", "-solutions"])
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_download_runs_in_an_empty_folder(downloads, source, name, tmp_path):
    """Run the notebook top to bottom with the working directory an empty folder: nothing may
    depend on files next to the chapter (quiz data comes from the installed package)."""
    from nbclient import NotebookClient

    docname = _docname(source)
    path = downloads / (docname + name + ".ipynb")
    if not path.is_file():
        pytest.skip(f"{docname} has no {name or 'main'} download")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{docname}{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
