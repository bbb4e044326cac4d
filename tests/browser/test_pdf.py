"""`make pdf` prints every page and the whole book from the built site: the PDFs exist, have
pages, hold every solution (opened for print, never "Click to show"), print quiz answer keys
instead of quiz controls, right after the quiz, and the book PDF holds every page. They read like
a book: no control labels, no formula wider than the text block, and (rendered to images with
pdftoppm, from Debian's poppler-utils) no page more than half empty before a chapter's last
page, for two chapters (every page with PDF_ALL=1). The download menu offers the PDFs once they
exist, and not before."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from notebooks import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# the chapters whose PDFs are rendered to images (long code cells, wide formulas, many figures)
RENDERED = ["chapters/03_autoregressive_flows.html", "chapters/07_variational_inference.html"]
# what a printed page must never show: the labels of controls that need a browser
CONTROL_LABELS = re.compile(r"(Show|Hide) code cell (source|output|content)|Click to show|"
                            r"Once\s*Loop\s*Reflect")
A4_MM, MARGIN_MM = (210, 297), 15  # make_pdf.PAPER


@pytest.fixture(scope="module")
def pdfs(built_book, browser, site):
    from browsing import toc_html_pages
    from make_pdf import make_pdfs, pdf_path
    from pypdf import PdfReader

    pages = toc_html_pages()
    _, problems = make_pdfs(built_book.html, pages, book=True, browser=browser, site=site)
    texts, counts = {}, {}
    for page in pages:
        reader = PdfReader(str(pdf_path(built_book.html, page)))
        counts[page] = len(reader.pages)
        # NFKC: the PDF's ligatures (fi, ffi, fl) become letters again
        texts[page] = _plain("\n".join(p.extract_text() for p in reader.pages))
    book = PdfReader(str(built_book.html / "pdf" / "book.pdf"))
    return {"pages": pages, "texts": texts, "counts": counts, "book_pages": len(book.pages),
            "book_outline": [item.title for item in book.outline], "problems": problems,
            "html": built_book.html, "pdf": {page: pdf_path(built_book.html, page) for page in pages}}


def _plain(text: str) -> str:
    """Text to compare: ligatures become letters (NFKC), typographic quotes plain ones, words
    hyphenated at a line end are joined, runs of white space are one space."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"-\s+", "-", text)
    return " ".join(text.split())


def _source(page: str) -> Path:
    return ROOT / (page.removesuffix(".html") + ".md")


def test_every_page_has_a_pdf_and_the_book_holds_them_all(pdfs):
    empty = [p for p, n in pdfs["counts"].items() if n < 1]
    assert not empty, f"PDFs without pages: {empty}"
    assert pdfs["book_pages"] == sum(pdfs["counts"].values())
    assert len(pdfs["book_outline"]) == len(pdfs["pages"]), "the book PDF lacks a bookmark per page"


def test_solutions_are_printed_open(pdfs):
    for page in pdfs["pages"]:
        text = pdfs["texts"][page]
        assert "Click to show" not in text, f"{page}: a folded block printed as 'Click to show'"
        source = _source(page)
        if not source.exists():
            continue
        markdown = source.read_text(encoding="utf-8")
        solutions = len(re.findall(r"^```\{solution-start\}", markdown, re.M))
        printed = len(re.findall(r"Solution to\s+Exercise", text))
        assert printed >= solutions, f"{page}: {solutions} solutions, {printed} printed"
        for title in re.findall(r"^```\{exercise-start\}\s*(.+)$", markdown, re.M):
            words = _plain(re.sub(r"\$[^$]*\$|\{[^}]*\}`[^`]*`", " ", title)).split()[:3]
            assert " ".join(words) in text, f"{page}: solution of '{title}' missing"
        dropdowns = len(re.findall(r"^\s*```\{dropdown\}", markdown, re.M))
        assert text.count("Solution") >= dropdowns, f"{page}: folded solutions were not printed"


def test_quizzes_print_an_answer_key_not_controls(pdfs):
    for page in pdfs["pages"]:
        source = _source(page)
        if source.exists() and "show_quiz(" in source.read_text(encoding="utf-8"):
            text = pdfs["texts"][page]
            assert "Quiz: answer key" in text, f"{page}: no answer key printed"
            assert "Check answer" not in text and "Submit" not in text, f"{page}: quiz controls printed"


def test_answer_key_follows_its_quiz(pdfs):
    for page in pdfs["pages"]:
        text = pdfs["texts"][page]
        if "Quiz: answer key" in text and re.search(r"\d+\.\s*References", text):
            key = text.index("Quiz: answer key")
            assert key < text.rindex("References"), f"{page}: the answer key comes after the references"


def test_no_control_labels_are_printed(pdfs):
    printed = {page: CONTROL_LABELS.findall(pdfs["texts"][page]) for page in pdfs["pages"]}
    printed = {page: found for page, found in printed.items() if found}
    assert not printed, f"control labels printed: {printed}"


def test_no_formula_is_wider_than_the_text_block(pdfs):
    wide = [p for p in pdfs["problems"] if "wider than the text block" in p]
    assert not wide, "\n".join(wide)


def ink_depth(pdf: Path, dpi: int = 30) -> list[float]:
    """For each page of ``pdf``, how far down the text block its ink (anything darker than a code
    box's grey) reaches: 0 for a blank page, 1 for a full one."""
    import tempfile

    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), f"{folder}/p"], check=True)
        depths = []
        for image in sorted(Path(folder).glob("p-*.pgm"), key=lambda f: int(f.stem.split("-")[-1])):
            pixels = np.asarray(Image.open(image))
            top = pixels.shape[0] * MARGIN_MM / A4_MM[1]
            height = pixels.shape[0] * (A4_MM[1] - 2 * MARGIN_MM) / A4_MM[1]
            rows = np.flatnonzero((pixels < 140).any(axis=1))
            depths.append(0.0 if rows.size == 0 else float((rows[-1] + 1 - top) / height))
    return depths


def test_no_page_is_more_than_half_empty(pdfs):
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is not installed: run `apt-get install -y poppler-utils`")
    pages = pdfs["pages"] if os.environ.get("PDF_ALL") else [p for p in RENDERED if p in pdfs["pages"]]
    empty = []
    for page in pages:
        depths = ink_depth(pdfs["pdf"][page])
        empty += [f"{page} p. {n}: {depth:.0%} of the page used"
                  for n, depth in enumerate(depths[:-1], start=1) if depth < 0.5]
    assert not empty, "pages more than half empty before the chapter's end:\n" + "\n".join(empty)


def test_the_menu_offers_the_pdfs_that_exist(pdfs, tmp_path):
    from print_pages import show_pdf_links

    for page in pdfs["pages"]:
        html = (pdfs["html"] / page).read_text(encoding="utf-8")
        items = re.findall(r'<li[^>]*data-pdf-link=""[^>]*>', html)
        assert items, f"{page}: no PDF link in the download menu"
        assert not [i for i in items if "hidden" in i], f"{page}: a PDF link is hidden although printed"
    # a site built without its PDFs (make book alone) offers none of them
    site = tmp_path / "site"
    (site / "chapters").mkdir(parents=True)
    page = RENDERED[0]
    (site / page).write_text((pdfs["html"] / page).read_text(encoding="utf-8"), encoding="utf-8")
    show_pdf_links(site)
    items = re.findall(r'<li[^>]*data-pdf-link=""[^>]*>', (site / page).read_text(encoding="utf-8"))
    assert items and all("hidden" in i for i in items), "a link to a missing PDF is offered"
