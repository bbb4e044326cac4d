"""`make pdf` prints every page and the whole book from the built site: the PDFs exist, have
pages, hold every solution (opened for print, never "Click to show"), print quiz answer keys
instead of quiz controls, right after the quiz, and the book PDF holds every page. They read like
a book: no control labels, no formula wider than the text block, and (rendered to images with
pdftoppm, from Debian's poppler-utils) no page more than half empty before a chapter's last
page, for two chapters (every page with PDF_ALL=1). The download menu offers the PDFs once they
exist, and not before.

Each page is printed by the worker that runs its other tests (one page, one unit of work: see
``tests/conftest.py``); the book test joins the pages' PDFs afterwards, printing any page whose
PDF is not there yet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from browsing import toc_html_pages
from notebooks import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = toc_html_pages()
# the chapters whose PDFs are rendered to images (long code cells, wide formulas, many figures)
RENDERED = ["chapters/03_autoregressive_flows.html", "chapters/07_variational_inference.html"]
# what a printed page must never show: the labels of controls that need a browser
CONTROL_LABELS = re.compile(r"(Show|Hide) code cell (source|output|content)|Click to show|"
                            r"Once\s*Loop\s*Reflect")
A4_MM, MARGIN_MM = (210, 297), 15  # make_pdf.PAPER


@dataclass
class Printed:
    pdf: Path
    pages: int
    text: str             # the PDF's text, _plain
    problems: list[str]   # what the page met while printing (make_pdf.print_page)


@pytest.fixture(scope="session")
def printed(built_book, browser, site):
    """``printed(page)``: the page printed to its PDF, where the download menu links it; cached."""
    from make_pdf import print_pages
    from pypdf import PdfReader

    cache: dict[str, Printed] = {}

    def get(page: str) -> Printed:
        if page not in cache:
            [(_, pdf)], problems = print_pages(browser, site, built_book.html, [page])
            reader = PdfReader(str(pdf))
            # NFKC: the PDF's ligatures (fi, ffi, fl) become letters again
            cache[page] = Printed(pdf=pdf, pages=len(reader.pages), problems=problems,
                                  text=_plain("\n".join(p.extract_text() for p in reader.pages)))
        return cache[page]

    return get


@pytest.fixture(scope="module")
def book_pdf(built_book, browser, site):
    """The book PDF joined from every page's PDF (a page not yet printed is printed here), and
    the download menu's PDF links shown: (the book's reader, {page: its PDF's page count})."""
    from book import BOOK_PDF, PDF_FOLDER
    from make_pdf import join, page_title, pdf_path, print_pages
    from print_pages import show_pdf_links
    from pypdf import PdfReader

    html = built_book.html
    missing = [page for page in PAGES if not pdf_path(html, page).is_file()]
    if missing:
        print_pages(browser, site, html, missing)
    target = html / PDF_FOLDER / BOOK_PDF
    join([(page_title(html, page), pdf_path(html, page)) for page in PAGES], target)
    show_pdf_links(html)
    counts = {page: len(PdfReader(str(pdf_path(html, page))).pages) for page in PAGES}
    return PdfReader(str(target)), counts


def _plain(text: str) -> str:
    """Text to compare: ligatures become letters (NFKC), typographic quotes plain ones, words
    hyphenated at a line end are joined, runs of white space are one space."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"-\s+", "-", text)
    return " ".join(text.split())


def _source(page: str) -> Path:
    return ROOT / (page.removesuffix(".html") + ".md")


def test_the_book_pdf_holds_every_page_with_a_bookmark(book_pdf):
    book, counts = book_pdf
    empty = [page for page, n in counts.items() if n < 1]
    assert not empty, f"PDFs without pages: {empty}"
    assert len(book.pages) == sum(counts.values())
    assert len(book.outline) == len(PAGES), "the book PDF lacks a bookmark per page"


@pytest.mark.parametrize("page", PAGES)
def test_solutions_are_printed_open(printed, page):
    text = printed(page).text
    assert "Click to show" not in text, f"{page}: a folded block printed as 'Click to show'"
    source = _source(page)
    if not source.exists():
        return
    markdown = source.read_text(encoding="utf-8")
    solutions = len(re.findall(r"^```\{solution-start\}", markdown, re.M))
    printed_solutions = len(re.findall(r"Solution to\s+Exercise", text))
    assert printed_solutions >= solutions, f"{page}: {solutions} solutions, {printed_solutions} printed"
    for title in re.findall(r"^```\{exercise-start\}\s*(.+)$", markdown, re.M):
        words = _plain(re.sub(r"\$[^$]*\$|\{[^}]*\}`[^`]*`", " ", title)).split()[:3]
        assert " ".join(words) in text, f"{page}: solution of '{title}' missing"
    dropdowns = len(re.findall(r"^\s*```\{dropdown\}", markdown, re.M))
    assert text.count("Solution") >= dropdowns, f"{page}: folded solutions were not printed"


@pytest.mark.parametrize("page", PAGES)
def test_quizzes_print_an_answer_key_not_controls(printed, page):
    source = _source(page)
    if source.exists() and "show_quiz(" in source.read_text(encoding="utf-8"):
        text = printed(page).text
        assert "Quiz: answer key" in text, f"{page}: no answer key printed"
        assert "Check answer" not in text and "Submit" not in text, f"{page}: quiz controls printed"


@pytest.mark.parametrize("page", PAGES)
def test_answer_key_follows_its_quiz(printed, page):
    text = printed(page).text
    if "Quiz: answer key" in text and re.search(r"\d+\.\s*References", text):
        key = text.index("Quiz: answer key")
        assert key < text.rindex("References"), f"{page}: the answer key comes after the references"


@pytest.mark.parametrize("page", PAGES)
def test_no_control_labels_are_printed(printed, page):
    found = CONTROL_LABELS.findall(printed(page).text)
    assert not found, f"{page}: control labels printed: {found}"


@pytest.mark.parametrize("page", PAGES)
def test_no_formula_is_wider_than_the_text_block(printed, page):
    wide = [p for p in printed(page).problems if "wider than the text block" in p]
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


@pytest.mark.parametrize("page", PAGES)
def test_no_page_is_more_than_half_empty(printed, page):
    if page not in RENDERED and not os.environ.get("PDF_ALL"):
        pytest.skip(f"{page} is not rendered to images (PDF_ALL=1 renders every page)")
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is not installed: run `apt-get install -y poppler-utils`")
    depths = ink_depth(printed(page).pdf)
    empty = [f"{page} p. {n}: {depth:.0%} of the page used"
             for n, depth in enumerate(depths[:-1], start=1) if depth < 0.5]
    assert not empty, "pages more than half empty before the chapter's end:\n" + "\n".join(empty)


def test_the_menu_offers_the_pdfs_that_exist(book_pdf, built_book, tmp_path):
    from print_pages import show_pdf_links

    for page in PAGES:
        html = (built_book.html / page).read_text(encoding="utf-8")
        items = re.findall(r'<li[^>]*data-pdf-link=""[^>]*>', html)
        assert items, f"{page}: no PDF link in the download menu"
        assert not [i for i in items if "hidden" in i], f"{page}: a PDF link is hidden although printed"
    # a site built without its PDFs (make book alone) offers none of them
    site = tmp_path / "site"
    (site / "chapters").mkdir(parents=True)
    page = RENDERED[0]
    (site / page).write_text((built_book.html / page).read_text(encoding="utf-8"), encoding="utf-8")
    show_pdf_links(site)
    items = re.findall(r'<li[^>]*data-pdf-link=""[^>]*>', (site / page).read_text(encoding="utf-8"))
    assert items and all("hidden" in i for i in items), "a link to a missing PDF is offered"
