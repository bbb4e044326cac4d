"""Offer every notebook page of the book as a notebook that stands alone, and each page as a PDF.

When the build finishes, every page written as a MyST Markdown notebook (a ``.md`` file whose
front matter has a jupytext header and a kernelspec) is written to ``_sources/<page>.ipynb``:

* the values the book glued into the text (myst-nb writes them, when it executes the page, to
  ``jupyter_execute/<page>.glue.json`` next to the HTML folder) are written into the text;
* MyST-only syntax becomes Markdown or HTML that Jupyter renders (``myst_to_jupyter``): math,
  dropdowns as ``<details>``, admonitions, references as links to the published page;
* a first cell says where the page is published and what to ``pip install`` to run it;
* ``from myst_nb import glue`` keeps working without myst-nb.

An exercise page (``exercises/<stem>`` with a generated ``exercises/learner/<stem>.md``) offers
the learner version as its ``.ipynb`` and ``.md``, and the instructor version only as
"solutions .ipynb".

The download menu (sphinx-book-theme's "download-buttons" group) also links the page's PDF,
``pdf/<page>.pdf``, and the whole book's, ``pdf/book.pdf``, which ``tools/make_pdf.py`` prints
from the built site (``make pdf``), instead of the browser's print dialog.

The published address of the site comes from ``html.baseurl`` in ``_config.yml`` or, when that
is empty, from ``repository.url`` (``https://github.com/<owner>/<name>`` is published by GitHub
Pages at ``https://<owner>.github.io/<name>/``).

Why JupyterLab and Binder open these notebooks, not the ``.md`` sources
------------------------------------------------------------------------
A reader who runs a chapter must read what the site shows: the computed numbers in the text,
"Fig. 3.1" and "(3.2)" for references, "(Rosenblatt, 1952)" for citations, the exercise numbers
of the site, captions under the figures. The ``.md`` sources cannot give that in JupyterLab:
jupyterlab-myst shows ``{glue:text}`` roles as their raw keys, and Sphinx's references, figure
numbers and bibliography exist only once the whole book is built. So the one converter that
makes the downloads also makes what the launch buttons, Binder and ``make lab`` open:

* the build writes the notebooks (``_sources/<page>.ipynb``); ``tools/lab_notebooks.py`` lays
  them out in ``notebooks/`` (:func:`lab_notebook_path`): ``notebooks/chapters/<stem>.ipynb``,
  ``notebooks/exercises/<stem>.ipynb`` (the learner version, no solution code in the file) and
  ``notebooks/solutions/<stem>.ipynb`` (the instructor version, opened only on purpose);
* Binder's ``postBuild`` builds the book (executing every chapter once, when Binder builds the
  image) and runs that tool, so the notebooks match the commit Binder runs, offline and with no
  dependence on the published site; ``make lab`` does the same after ``make book`` (whose
  execution cache makes the second time quick);
* the page's Binder button opens ``notebooks/<...>.ipynb`` (:func:`_launch_menu`); exercise pages
  add a second button, "Binder (solutions)".

The chapter sources stay the one source of truth and need no change; the chapter tests still
assert every glued number, and the downloads and Lab tests check that the same numbers reach the
notebooks. MyST's ``{eval}`` role would let jupyterlab-myst show numbers live from the kernel,
but references, figure numbers and citations would still be raw labels there, and every chapter
would have to be rewritten.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path

from myst_to_jupyter import Resolver, caption_markdown, convert_markdown

# the book's tooling (tools/book) sits beside the extensions; Sphinx puts only tools/sphinx on
# the path (``local_extensions`` in _config.yml)
TOOLS = str(Path(__file__).resolve().parents[1])
if TOOLS not in sys.path:
    sys.path.append(TOOLS)

from book import (BOOK_PDF, PDF_FOLDER, executed_dir, glue_data, is_notebook,  # noqa: E402
                  unwrap_numpy_scalar)

NOTEBOOK_SUFFIX = ".ipynb"
SOLUTIONS_SUFFIX = "-solutions.ipynb"
#: where Binder and ``make lab`` keep the notebooks readers open (``tools/lab_notebooks.py``)
LAB_FOLDER = "notebooks"
#: cell tags that hide a cell's code on the site: the notebook shows it collapsed
HIDDEN_INPUT_TAGS = {"hide-input", "remove-input", "hide-cell", "remove-cell"}
HIDDEN_OUTPUT_TAGS = {"hide-output", "remove-output"}


@lru_cache(maxsize=None)
def is_myst_notebook(source: str) -> bool:
    """True for a MyST Markdown notebook page (:func:`book.is_notebook`)."""
    return Path(source).suffix == ".md" and is_notebook(source)


def download_name(docname: str) -> str:
    """Path of the notebook inside ``_sources/``, e.g. 'chapters/01_x.ipynb'."""
    return docname + NOTEBOOK_SUFFIX


def solutions_name(docname: str) -> str:
    """Path of an exercise page's instructor notebook inside ``_sources/``."""
    return docname + SOLUTIONS_SUFFIX


def learner_source(srcdir: Path, docname: str) -> Path | None:
    """``exercises/learner/<stem>.md`` for the page ``exercises/<stem>``, if it exists."""
    parts = docname.split("/")
    candidate = Path(srcdir, *parts[:-1], "learner", parts[-1] + ".md")
    return candidate if len(parts) > 1 and candidate.is_file() else None


def lab_notebook_path(docname: str, solutions: bool = False) -> str:
    """Where Binder and ``make lab`` keep the notebook of page ``docname``, relative to the
    repository: 'notebooks/chapters/03_x.ipynb', 'notebooks/exercises/03_x.ipynb' (learner),
    'notebooks/solutions/03_x.ipynb' (instructor)."""
    if solutions:
        return f"{LAB_FOLDER}/solutions/{docname.rpartition('/')[2]}{NOTEBOOK_SUFFIX}"
    return f"{LAB_FOLDER}/{docname}{NOTEBOOK_SUFFIX}"


def lab_notebooks(sources: Path) -> dict[str, Path]:
    """``{path under the repository: notebook in the built site}`` for every notebook the build
    wrote into ``sources`` (``_build/html/_sources``)."""
    found = {}
    for path in sorted(Path(sources).rglob("*" + NOTEBOOK_SUFFIX)):
        relative = path.relative_to(sources).as_posix()
        if relative.endswith(SOLUTIONS_SUFFIX):
            found[lab_notebook_path(relative.removesuffix(SOLUTIONS_SUFFIX), True)] = path
        else:
            found[lab_notebook_path(relative.removesuffix(NOTEBOOK_SUFFIX))] = path
    return found


def binder_url(repo: str, branch: str, path: str, binderhub: str = "https://mybinder.org") -> str:
    """The Binder address that opens ``path`` (relative to the repository) in JupyterLab."""
    owner_name = repo.removeprefix("https://github.com/").strip("/")
    return f"{binderhub.rstrip('/')}/v2/gh/{owner_name}/{branch}?urlpath=lab/tree/{path}"


def pdf_name(docname: str) -> str:
    """Path of a page's PDF inside the built site, e.g. 'pdf/chapters/01_x.pdf'."""
    return f"{PDF_FOLDER}/{docname}.pdf"


def site_url(config) -> str:
    """The published address of the site, ending with '/' ("" when unknown)."""
    base = (getattr(config, "html_baseurl", "") or "").strip()
    if not base:
        options = getattr(config, "html_theme_options", {}) or {}
        repo = (options.get("repository_url") or "").strip().rstrip("/")
        if repo.startswith("https://github.com/") and repo.count("/") == 4:
            owner, name = repo.split("/")[-2:]
            base = f"https://{owner.lower()}.github.io/{name}/"
    return base if not base or base.endswith("/") else base + "/"


def repository(config) -> tuple[str, str]:
    """(repository URL, branch) from ``repository:`` in ``_config.yml``."""
    options = getattr(config, "html_theme_options", {}) or {}
    return ((options.get("repository_url") or "").rstrip("/"),
            options.get("repository_branch") or "main")


# --------------------------------------------------------------------------- the book's facts

def format_glued(text: str, fmt: str) -> str:
    """A glued value's text/plain formatted as myst-nb formats it on the page (a numpy scalar's
    repr, ``np.float64(0.5)``, counts as its number)."""
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(unwrap_numpy_scalar(text), fmt)


class BookResolver(Resolver):
    """Answers the conversion's questions from the built book: glued values, labels, terms,
    equation and figure numbers, bibliography."""

    def __init__(self, app, docname: str, glue: dict):
        self.app, self.env, self.docname, self.glue_data = app, app.env, docname, glue
        self.base = site_url(app.config)
        self.std = self.env.get_domain("std")
        self.cited: list[str] = []

    def glue(self, key: str, fmt: str) -> str:
        from sphinx.util import logging

        if key not in self.glue_data:
            logging.getLogger(__name__).warning(
                f"notebook download of {self.docname}: no glued value {key!r}")
            return f"(see {key} on the website)"
        text = self.glue_data[key].get("data", {}).get("text/plain", "")
        try:
            return format_glued(text, fmt)
        except (ValueError, TypeError) as exc:
            logging.getLogger(__name__).warning(
                f"notebook download of {self.docname}: cannot format {key!r} with {fmt!r}: {exc}")
            return text

    def _url(self, docname: str, anchor: str | None = None) -> str | None:
        if not self.base:
            return None
        return f"{self.base}{docname}.html" + (f"#{anchor}" if anchor else "")

    def _number(self, docname: str, figtype: str, node_id: str) -> str | None:
        numbers = self.env.toc_fignumbers.get(docname, {}).get(figtype, {}).get(node_id)
        return ".".join(map(str, numbers)) if numbers else None

    def link(self, kind, target, title):
        if kind == "doc":
            docname = self._docname(target)
            text = title or (self.env.titles[docname].astext() if docname in self.env.titles else target)
            return text, self._url(docname)
        if kind == "term":
            found = self._term(target)
            return (title or target), (self._url(*found) if found else None)
        if kind == "download":
            repo, branch = repository(self.app.config)
            folder = str(Path(self.docname).parent)
            path = str(Path(folder, target)) if folder != "." else target
            return (title or target), (f"{repo}/blob/{branch}/{path}" if repo else None)
        label = target.lower()
        if label in self.std.labels:
            docname, anchor, section = self.std.labels[label]
        elif label in self.std.anonlabels:
            docname, anchor = self.std.anonlabels[label]
            section = None
        else:
            return (title or target), None
        text = title or section or target
        if kind == "numref":
            found = self._numbered(docname, anchor)
            if found:
                number, fmt = found
                if title and ("%s" in title or "{number}" in title):
                    text = title.replace("{number}", number).replace("%s", number)
                elif not title:
                    text = fmt % number
        return text, self._url(docname, anchor)

    def _numbered(self, docname: str, anchor: str) -> tuple[str, str] | None:
        """(number, format) of the numbered node ``anchor`` of ``docname``, e.g. ("3.1", "Fig. %s")."""
        formats = self.app.config.numfig_format or {}
        for figtype in ("figure", "table", "code-block", "exercise"):
            number = self._number(docname, figtype, anchor)
            if number:
                return number, formats.get(figtype, "Fig. %s")
        return None

    def number(self, label):
        label = label.lower()
        if label in self.std.labels:
            docname, anchor, _ = self.std.labels[label]
        elif label in self.std.anonlabels:
            docname, anchor = self.std.anonlabels[label]
        else:
            return None
        found = self._numbered(docname, anchor)
        return found[1] % found[0] if found else None

    def page_exercises(self) -> list[str]:
        """"Exercise 3.1", "Exercise 3.2", ... of this page, in order."""
        numbers = self.env.toc_fignumbers.get(self.docname, {}).get("exercise", {})
        fmt = (self.app.config.numfig_format or {}).get("exercise", "Exercise %s")
        return [fmt % ".".join(map(str, n)) for n in sorted(numbers.values())]

    def _docname(self, target: str) -> str:
        target = target.removesuffix(".md").removesuffix(".ipynb")
        if target.startswith("/"):
            return target.lstrip("/")
        import posixpath

        return posixpath.normpath(posixpath.join(posixpath.dirname(self.docname), target))

    def _term(self, target: str):
        terms = getattr(self.std, "_terms", {}) or {}
        found = terms.get(target.lower())
        if found is None:
            found = self.std.objects.get(("term", target)) or self.std.objects.get(("term", target.lower()))
        return found[:2] if found else None

    def equation(self, label):
        math = self.env.get_domain("math")
        found = math.equations.get(label) if hasattr(math, "equations") else None
        if not found:
            return None
        docname, number = found[0], found[1]
        return self._number(docname, "displaymath", f"equation-{label}") or str(number)

    def _bibfiles(self) -> tuple[str, ...]:
        return tuple(str(Path(self.app.srcdir, f)) for f in self.app.config.bibtex_bibfiles)

    def cite(self, keys, kind):
        entries = bibliography(self._bibfiles())
        self.cited += [k for k in keys if k not in self.cited]
        names = [entries.get(k, (k, "")) for k in keys]
        if kind.startswith("t"):
            return "; ".join(f"{who} ({year})" if year else who for who, year in names)
        return "(" + "; ".join(f"{who}, {year}" if year else who for who, year in names) + ")"

    def works_cited(self) -> str | None:
        """A Markdown list of the works this notebook cites, or None when it cites none."""
        if not self.cited:
            return None
        entries = reference_entries(self._bibfiles())
        lines = ["## Works cited", ""]
        lines += [f"- {entries.get(key, key)}" for key in self.cited]
        if self.base:
            lines += ["", f"All the works the book cites: <{self.base}bibliography.html>."]
        return "\n".join(lines)


@lru_cache(maxsize=None)
def bibliography(files: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """key -> ("Author", "year") for every entry of the book's .bib files."""
    from pybtex.database import parse_file

    entries = {}
    for name in files:
        for key, entry in parse_file(name).entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
            if len(last) >= 3:
                who = f"{last[0]} et al."
            elif len(last) == 2:
                who = f"{last[0]} and {last[1]}"
            else:
                who = last[0] if last else key
            entries[key] = (who, entry.fields.get("year", ""))
    return entries


def _plain(text: str) -> str:
    return " ".join(text.replace("{", "").replace("}", "").replace("--", "–").split())


@lru_cache(maxsize=None)
def reference_entries(files: tuple[str, ...]) -> dict[str, str]:
    """key -> one Markdown line "Last, F. and Other, G. (2017). Title. *Venue*, pages. DOI link"."""
    from pybtex.database import parse_file

    entries = {}
    for name in files:
        for key, entry in parse_file(name).entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = []
            for person in people:
                initials = " ".join(f"{_plain(n)[0]}." for n in person.first_names + person.middle_names
                                    if _plain(n))
                names.append(", ".join(x for x in (_plain(" ".join(person.last_names)), initials) if x))
            who = (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else "".join(names)
            fields = entry.fields
            text = f"{who} ({fields.get('year', 'n.d.')}). {_plain(fields.get('title', key))}."
            venue = fields.get("journal") or fields.get("booktitle") or fields.get("publisher")
            if venue:
                text += f" *{_plain(venue)}*"
                if fields.get("volume"):
                    text += f", {_plain(fields['volume'])}"
                if fields.get("pages"):
                    text += f", {_plain(fields['pages'])}"
                text += "."
            if fields.get("doi"):
                text += f" <https://doi.org/{fields['doi']}>"
            elif fields.get("url"):
                text += f" <{fields['url']}>"
            entries[key] = text
    return entries


# --------------------------------------------------------------------------- writing notebooks

#: how the maintainers' note of a learner file begins (``tools/make_learner.py``, ``NOTE``)
MAINTAINER_NOTE = "This notebook is generated from"


def reader_text(markdown: str) -> str:
    """``markdown`` without the learner files' note to maintainers (which file to edit)."""
    paragraphs = re.split(r"\n[ \t]*\n", markdown)
    return "\n\n".join(p for p in paragraphs if not p.lstrip().startswith(MAINTAINER_NOTE))


def jupyterlab_pin(srcdir) -> str:
    """``jupyterlab==<version>`` as requirements-lab.txt pins it (``jupyterlab`` if it does not)."""
    path = Path(srcdir, "requirements-lab.txt")
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, version = line.split("#", 1)[0].strip().partition("==")
            if name.strip().lower() == "jupyterlab" and version.strip():
                return f"jupyterlab=={version.strip()}"
    return "jupyterlab"


def install_lines(app, notebook_name: str) -> list[str]:
    """The shell lines that run a downloaded notebook in a new virtual environment (Python 3.11+
    and git), or [] when the book names no repository."""
    repo, branch = repository(app.config)
    if not repo:
        return []
    return ["python3 -m venv flows-env && . flows-env/bin/activate   # Windows: flows-env\\Scripts\\activate",
            f'pip install "nflib[course] @ git+{repo}@{branch}" {jupyterlab_pin(app.srcdir)}',
            f"jupyter lab {notebook_name}"]


def intro_cell(app, docname: str, solutions: bool = False) -> str:
    base = site_url(app.config)
    title = app.env.titles[docname].astext() if docname in app.env.titles else docname
    lines = [f"*{title}*, from the course *{app.config.html_title or app.config.project}*."]
    if base:
        lines[0] += f" Read it online: <{base}{docname}.html>."
    if solutions:
        lines.append("This is the instructor version, with every solution.")
    name = Path(solutions_name(docname) if solutions else download_name(docname)).name
    commands = install_lines(app, name)
    if commands:
        lines += ["", "To run it on your own computer, put it in an empty folder and there run:", "",
                  "```bash", *commands, "```"]
    return "\n".join(lines)


def _hide(cell) -> None:
    """Collapse in Jupyter what the site hides: the code of hide-input cells, hidden outputs."""
    tags = set(cell.metadata.get("tags", []))
    jupyter = dict(cell.metadata.get("jupyter", {}))
    if tags & HIDDEN_INPUT_TAGS:
        jupyter["source_hidden"] = True
    if tags & HIDDEN_OUTPUT_TAGS and "skip-execution" not in tags:
        jupyter["outputs_hidden"] = True
    if jupyter:
        cell.metadata["jupyter"] = jupyter


def _caption_cell(cell, resolver):
    """The Markdown cell that shows the caption of the figure ``cell`` draws, or None."""
    import nbformat

    figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
    caption = figure.get("caption")
    if not caption:
        return None
    return nbformat.v4.new_markdown_cell(caption_markdown(str(caption), figure.get("name"), resolver))


_LEARNER_HEADING = re.compile(r"^## Exercise: ", re.M)


def _number_exercise_headings(notebook, numbers: list[str]) -> None:
    """Give the learner version's "## Exercise: Title" headings the site's numbers, in order."""
    queue = list(numbers)
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        cell.source = _LEARNER_HEADING.sub(lambda m: f"## {queue.pop(0)}: " if queue else m.group(0),
                                           cell.source)


def standalone_notebook(app, source: Path, docname: str, solutions: bool = False):
    """The stand-alone notebook (nbformat node) of the MyST notebook ``source``."""
    import jupytext
    import nbformat

    executed = executed_dir(app.outdir).joinpath(*(docname + ".ipynb").split("/"))
    own_source = Path(source).resolve() == Path(app.env.doc2path(docname)).resolve()
    if own_source and executed.is_file():
        # the text exactly as the book executed it (the source may have changed since)
        notebook = nbformat.read(str(executed), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    else:
        notebook = jupytext.read(str(source))
    resolver = BookResolver(app, docname, glue_data(app.outdir, docname))
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if cell.cell_type == "markdown":
            cell.source = convert_markdown(reader_text(cell.source), resolver)
        elif cell.cell_type == "code":
            _hide(cell)
            caption = _caption_cell(cell, resolver)
            if caption is not None:
                cells.append(caption)
    notebook.cells = [c for c in cells if c.cell_type != "markdown" or c.source.strip()]
    _number_exercise_headings(notebook, resolver.page_exercises())
    cited = resolver.works_cited()
    if cited:
        notebook.cells.append(nbformat.v4.new_markdown_cell(cited))
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(intro_cell(app, docname, solutions)))
    notebook.metadata.pop("jupytext", None)
    notebook.metadata.pop("mystnb", None)
    notebook.metadata.pop("source_map", None)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return notebook


def write_notebook(notebook, target: Path) -> None:
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(notebook)
    nbformat.write(notebook, str(target))


def _write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if not is_myst_notebook(str(source)):
            continue
        learner = learner_source(Path(app.srcdir), docname)
        if learner is None:
            write_notebook(standalone_notebook(app, source, docname), sources / download_name(docname))
            continue
        write_notebook(standalone_notebook(app, learner, docname), sources / download_name(docname))
        write_notebook(standalone_notebook(app, source, docname, solutions=True),
                       sources / solutions_name(docname))
        copy = sources / Path(docname).parent / "learner" / (Path(docname).name + ".md")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(reader_text(learner.read_text(encoding="utf-8")), encoding="utf-8")


# --------------------------------------------------------------------------- the download menu

def _offer_download(app, pagename, templatename, context, doctree):
    if doctree is not None and is_myst_notebook(str(app.env.doc2path(pagename))):
        context["ipynb_source"] = download_name(pagename)


def _download_menu(app, pagename, templatename, context, doctree):
    """Point the theme's download menu at the learner notebook, the solutions and the PDFs."""
    pathto = context.get("pathto")
    if doctree is None or pathto is None:
        return
    for group in context.get("header_buttons", []) or []:
        if group.get("label") != "download-buttons":
            continue
        buttons = [b for b in group["buttons"] if b.get("label") != "download-pdf-button"]
        learner = learner_source(Path(app.srcdir), pagename)
        if learner is not None:
            for button in buttons:
                if button.get("label") == "download-notebook-button":
                    button["tooltip"] = "Download the exercises as a notebook"
                if button.get("label") == "download-source-button":
                    button["url"] = (pathto("_sources", 1) + "/" + str(
                        Path(pagename).parent / "learner" / (Path(pagename).name + ".md")))
                    button["tooltip"] = "Download the exercises as MyST Markdown"
            buttons.append({"type": "link", "url": pathto("_sources", 1) + "/" + solutions_name(pagename),
                            "text": "solutions .ipynb", "icon": "fas fa-key",
                            "tooltip": "Download the notebook with every solution",
                            "label": "download-solutions-button"})
        buttons.append({"type": "link", "url": pathto(pdf_name(pagename), 1), "text": ".pdf",
                        "icon": "fas fa-file-pdf", "tooltip": "Download this page as a PDF",
                        "label": "download-pdf-button"})
        buttons.append({"type": "link", "url": pathto(f"{PDF_FOLDER}/{BOOK_PDF}", 1),
                        "text": "book .pdf", "icon": "fas fa-book",
                        "tooltip": "Download the whole book as a PDF",
                        "label": "download-book-pdf-button"})
        group["buttons"] = buttons


def _launch_menu(app, pagename, templatename, context, doctree):
    """Point the Binder button at the page's generated notebook (the learner version for an
    exercise page) and give exercise pages a second button that opens the solutions."""
    if doctree is None or not is_myst_notebook(str(app.env.doc2path(pagename))):
        return
    repo, branch = repository(app.config)
    for group in context.get("header_buttons", []) or []:
        if group.get("label") != "launch-buttons":
            continue
        for button in list(group["buttons"]):
            if button.get("text") != "Binder" or "?urlpath=" not in button.get("url", ""):
                continue
            hub = button["url"].split("/v2/", 1)[0]
            button["url"] = binder_url(repo, branch, lab_notebook_path(pagename), hub)
            button["tooltip"] = "Run this page as a notebook on Binder"
            if learner_source(Path(app.srcdir), pagename) is not None:
                button["tooltip"] = "Run the exercises as a notebook on Binder"
                group["buttons"].append({
                    **button, "text": "Binder (solutions)", "label": "launch-solutions-button",
                    "tooltip": "Open the notebook with every solution on Binder",
                    "url": binder_url(repo, branch, lab_notebook_path(pagename, True), hub)})


def setup(app):
    # before sphinx-book-theme builds its header buttons (priority 501), then after it
    app.connect("html-page-context", _offer_download, priority=500)
    app.connect("html-page-context", _download_menu, priority=502)
    app.connect("html-page-context", _launch_menu, priority=502)
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
