"""Downloaded notebooks stand alone: each notebook page of the built site offers an .ipynb whose
text holds the glued values and no MyST, the captions, key terms and exercise numbers the site
shows, with hidden code collapsed, and that runs top to bottom in an empty folder. Exercise pages
offer the learner version, and the instructor version only as the solutions. The same notebooks
are what Binder and `make lab` open (notebooks/...), and the Binder button points there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from notebooks import ROOT, toc_pages

from myst_to_jupyter import (Resolver, caption_markdown, convert_markdown,
                             display_math, leftover_myst)
from notebook_downloads import (MAINTAINER_NOTE, format_glued, is_myst_notebook, lab_notebook_path,
                                learner_source, reader_text, site_url)


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

    def number(self, label):
        return {"fig-b": "Fig. 3.1", "ex-a": "Exercise 3.2"}.get(label)


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
    assert "$$\n\\begin{equation*}\n\\log p = 1\n\\tag{1.2}\n\\end{equation*}\n$$" in text
    assert "   <details>\n   <summary>Solution</summary>\n\n   It is 0.58.\n\n   </details>" in text
    assert "> **Note**\n>\n> Mind the sign." in text
    assert "```python\nx = {1: 2}\n```" in text


def test_exercise_directives_become_headings():
    text = convert_markdown("```{exercise-start} Planar layers\n:label: ex-02-planar\n```\n"
                            "Do it.\n```{exercise-end}\n```", Resolver())
    assert text.startswith("## Exercise: Planar layers") and "Do it." in text
    assert not leftover_myst(text)


def test_exercises_carry_the_site_numbers():
    text = convert_markdown("```{exercise-start} Masks\n:label: ex-a\n```\nDo it.\n```{exercise-end}\n```",
                            FakeBook())
    assert text.startswith("## Exercise 3.2: Masks")
    text = convert_markdown("````{exercise}\n:label: ex-a\nCount.\n````", FakeBook())
    assert text.startswith("> **Exercise 3.2**") and "Count." in text


def test_key_terms_become_a_list():
    text = convert_markdown("## Key terms\n\n{term}`Flow`\n: an invertible map,\n  with a density.\n\n"
                            "{term}`MADE`\n: a masked network.\n", FakeBook())
    assert "- **[FLOW](https://site/term/Flow)**: an invertible map, with a density." in text
    assert "- **[MADE](https://site/term/MADE)**: a masked network." in text
    assert not re.search(r"^:", text, re.M)


def test_captions_are_numbered_markdown():
    text = caption_markdown("A banana,\n  mapped to $z$ ({cite:p}`dinh2017`).", "fig-b", FakeBook())
    assert text == "**[Fig. 3.1](https://site/numref/fig-b)** A banana, mapped to $z$ ((Dinh et al., 2017))."
    assert caption_markdown("No label.", None, FakeBook()) == "No label."


def test_display_math_is_starred_so_that_no_renderer_numbers_it_again():
    assert display_math(["a = b"], None) == ["$$", r"\begin{equation*}", "a = b", r"\end{equation*}", "$$"]
    assert display_math([r"\begin{align}", "a &= b", r"\end{align}"], "3.2") == \
        ["$$", r"\begin{align*}", "a &= b", r"\tag{3.2}", r"\end{align*}", "$$"]
    text = convert_markdown("$$\nx\n$$ (eq-one)", FakeBook())
    assert r"\tag{1.2}" in text and "(eq-one)" not in text


def test_a_formula_broken_before_a_minus_sign_stays_one_formula():
    text = convert_markdown("so $a = b\n- c$ holds.\n\n- a list $x$\n- goes on", FakeBook())
    assert text == "so $a = b - c$ holds.\n\n- a list $x$\n- goes on"


def test_the_learner_note_to_maintainers_is_left_out():
    from make_learner import NOTE

    assert MAINTAINER_NOTE in NOTE
    note = NOTE.format(name="03_x.md")
    kept = reader_text("# T\n\n" + note + "\n\nText.")
    assert MAINTAINER_NOTE not in kept and "NotImplementedError" in kept and kept.endswith("Text.")


def test_lab_notebooks_are_laid_out_like_the_binder_button_says():
    assert lab_notebook_path("chapters/03_x") == "notebooks/chapters/03_x.ipynb"
    assert lab_notebook_path("exercises/03_x") == "notebooks/exercises/03_x.ipynb"
    assert lab_notebook_path("exercises/03_x", solutions=True) == "notebooks/solutions/03_x.ipynb"


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


def test_the_book_executes_every_notebook_in_an_empty_folder():
    """What the build ran is what a download runs: nothing beside the page was in reach."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"].get("run_in_temp") is True, "set execute: run_in_temp: true"


def _ran(built_book, source: Path, name: str):
    """The notebook whose code a download must hold: as the build executed it (a page, or an
    exercise's solutions), or the learner version, which tests/test_exercises.py executes."""
    docname = _docname(source)
    if name == "":
        learner = learner_source(ROOT, docname)
        if learner is not None:
            import jupytext

            return jupytext.read(str(learner))
    return nbformat.read(built_book.executed_dir / (docname + ".ipynb"), as_version=4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["", "-solutions"])
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_download_holds_exactly_the_code_that_was_run(downloads, built_book, source, name):
    """Every notebook the book offers was executed once, in an empty folder: by the build, or,
    for an exercise's learner version, by the exercise tests. Its download holds the same code
    cells, in order (their glue comes from ``nflib.course.glue``, which needs no myst-nb: see
    ``tests/test_glue_values.py``); so it runs where it lands, without executing every notebook
    a second time."""
    docname = _docname(source)
    path = downloads / (docname + name + ".ipynb")
    if not path.is_file():
        pytest.skip(f"{docname} has no {name or 'main'} download")
    offered = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    ran = [c.source for c in _ran(built_book, source, name).cells
           if c.cell_type == "code"]
    assert offered == ran, (f"{docname}{name}: the download's code differs from what was run "
                            f"(first difference at code cell "
                            f"{next((i for i, (a, b) in enumerate(zip(offered, ran)) if a != b), len(ran))})")


def _hidden(cell) -> bool:
    return bool(cell.metadata.get("jupyter", {}).get("source_hidden"))


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_download_keeps_captions_key_terms_and_hidden_code(downloads, built_book, source):
    """Each figure's caption is Markdown under it ("**Fig. 3.1** ..."), key terms are a list,
    the code the site hides is collapsed, and no maintainer note is left."""
    docname = _docname(source)
    notebook = nbformat.read(downloads / (docname + ".ipynb"), as_version=4)
    built = nbformat.read(built_book.executed_dir / (docname + ".ipynb"), as_version=4)
    cells = notebook.cells
    for index, cell in enumerate(cells):
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        if cell.cell_type != "code" or not figure.get("caption"):
            continue
        after = cells[index + 1] if index + 1 < len(cells) else None
        assert after is not None and after.cell_type == "markdown", \
            f"{docname}: no caption cell under the figure {figure.get('name')}"
        assert re.match(r"\*\*\[?Fig\. \d+(\.\d+)?\b", after.source), \
            f"{docname}: the caption of {figure.get('name')} has no figure number: {after.source[:80]!r}"
        words = " ".join(str(figure["caption"]).split())[:30].split("$")[0]
        assert words in " ".join(after.source.split()), f"{docname}: caption text missing: {words!r}"
    hidden_tags = {"hide-input", "remove-input"}
    tagged = [c for c in cells if c.cell_type == "code" and hidden_tags & set(c.metadata.get("tags", []))]
    assert all(_hidden(c) for c in tagged), f"{docname}: hide-input code is not collapsed"
    assert len(tagged) == sum(1 for c in built.cells if c.cell_type == "code"
                              and hidden_tags & set(c.metadata.get("tags", [])))
    text = _markdown(notebook)
    if re.search(r"^#+ Key terms", _markdown(built), re.M):
        section = text.split("Key terms", 1)[1]
        assert re.search(r"^- \*\*", section, re.M), f"{docname}: key terms are not a list"
    assert not re.search(r"^: ", text, re.M), f"{docname}: a definition list is left"
    assert MAINTAINER_NOTE not in text, f"{docname}: a note to maintainers is left"
    if "{cite" in _markdown(built):
        assert "## Works cited" in text, f"{docname}: citations but no list of works cited"


@pytest.mark.slow
@pytest.mark.parametrize("source", [p for p in NOTEBOOK_PAGES if learner_source(ROOT, _docname(p))],
                         ids=_docname)
def test_exercise_numbers_are_the_sites_and_by_chapter(downloads, source):
    docname = _docname(source)
    page = (downloads.parent / (docname + ".html")).read_text(encoding="utf-8")
    on_site = re.findall(r"Exercise (\d+(?:\.\d+)?)", page)
    assert on_site, f"{docname}: no numbered exercise on the page"
    chapter = str(int(Path(docname).name[:2]))
    assert all(n.startswith(chapter + ".") for n in on_site), \
        f"{docname}: exercises not numbered by chapter {chapter}: {sorted(set(on_site))}"
    for name in ("", "-solutions"):
        notebook = nbformat.read(downloads / (docname + name + ".ipynb"), as_version=4)
        headings = re.findall(r"^## Exercise (\d+\.\d+):", _markdown(notebook), re.M)
        assert headings and set(headings) <= set(on_site), f"{docname}{name}: {headings} vs {on_site}"


@pytest.mark.slow
@pytest.mark.parametrize("source", NOTEBOOK_PAGES, ids=_docname)
def test_binder_button_opens_the_generated_notebook(downloads, source):
    docname = _docname(source)
    page = (downloads.parent / (docname + ".html")).read_text(encoding="utf-8")
    links = re.findall(r'href="(https://mybinder\.org/v2/gh/[^"]+)"', page)
    assert any(link.endswith("urlpath=lab/tree/" + lab_notebook_path(docname)) for link in links), \
        f"{docname}: the Binder button does not open {lab_notebook_path(docname)}: {links}"
    if learner_source(ROOT, docname):
        assert any(link.endswith(lab_notebook_path(docname, solutions=True)) for link in links)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("LAB_ALL"), reason="make test-lab: builds a fresh environment")
def test_install_line_runs_a_download_in_a_fresh_venv(downloads, tmp_path):
    """The download's own install lines, in a new virtual environment (the repository's address
    replaced by this folder), install JupyterLab and what the chapter imports; the notebook then
    runs in an empty folder with that environment's Jupyter."""
    docname = "chapters/01_change_of_variables"
    notebook = nbformat.read(downloads / (docname + ".ipynb"), as_version=4)
    commands = re.search(r"```bash\n(.*?)\n```", notebook.cells[0].source, re.S).group(1).splitlines()
    venv_line, pip_line, lab_line = commands
    assert venv_line.startswith("python3 -m venv ") and lab_line.startswith("jupyter lab ")
    pip_line = re.sub(r"git\+\S+@[\w.-]+", ROOT.as_uri(), pip_line)
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / Path(docname).name).with_suffix(".ipynb").write_text(
        (downloads / (docname + ".ipynb")).read_text(encoding="utf-8"), encoding="utf-8")
    script = "\n".join(["set -e", venv_line.split("#")[0].replace("python3", sys.executable, 1),
                        pip_line.replace("pip install", "pip install --quiet", 1),
                        "jupyter lab --version",
                        f"jupyter nbconvert --to notebook --execute --inplace {Path(docname).name}.ipynb"])
    result = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
