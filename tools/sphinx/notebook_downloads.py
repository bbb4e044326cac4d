"""Offer every notebook page of the book as a Jupyter notebook (``.ipynb``) download.

A page written as a MyST Markdown notebook (a ``.md`` file whose front matter has a jupytext
header and a kernelspec) is converted with jupytext into ``_sources/<page>.ipynb`` of the built
site when the build finishes. The page's download menu links to that file: sphinx-book-theme adds
an ".ipynb" entry when the page context names ``ipynb_source``. The notebook holds the page's text
and code without outputs, ready to run top to bottom.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

NOTEBOOK_SUFFIX = ".ipynb"


@lru_cache(maxsize=None)
def is_myst_notebook(source: str) -> bool:
    """True for a .md file whose front matter declares jupytext and a kernelspec."""
    path = Path(source)
    if path.suffix != ".md" or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front_matter = text.split("\n---", 1)[0]
    return "jupytext:" in front_matter and "kernelspec:" in front_matter


def download_name(docname: str) -> str:
    """Path of the notebook inside ``_sources/``, e.g. 'chapters/01_x.ipynb'."""
    return docname + NOTEBOOK_SUFFIX


def _offer_download(app, pagename, templatename, context, doctree):
    if doctree is not None and is_myst_notebook(str(app.env.doc2path(pagename))):
        context["ipynb_source"] = download_name(pagename)


def write_notebook(source: Path, target: Path) -> None:
    """Convert one MyST notebook to .ipynb with jupytext."""
    import jupytext

    notebook = jupytext.read(str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, str(target), fmt="ipynb")


def _write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if is_myst_notebook(str(source)):
            write_notebook(source, sources / download_name(docname))


def setup(app):
    # before sphinx-book-theme builds its header buttons (priority 501)
    app.connect("html-page-context", _offer_download, priority=500)
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
