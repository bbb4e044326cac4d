"""`make pdf` prints every page and the whole book from the built site: the PDFs exist, have
pages, hold every solution (opened for print, never "Click to show"), print quiz answer keys
instead of quiz controls, and the book PDF holds every page."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from notebooks import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def pdfs(built_book, browser, site):
    from browsing import toc_html_pages
    from make_pdf import make_pdfs, pdf_path
    from pypdf import PdfReader

    pages = toc_html_pages()
    make_pdfs(built_book.html, pages, book=True, browser=browser, site=site)
    texts, counts = {}, {}
    for page in pages:
        reader = PdfReader(str(pdf_path(built_book.html, page)))
        counts[page] = len(reader.pages)
        # NFKC: the PDF's ligatures (fi, ffi, fl) become letters again
        texts[page] = _plain("\n".join(p.extract_text() for p in reader.pages))
    book = PdfReader(str(built_book.html / "pdf" / "book.pdf"))
    return {"pages": pages, "texts": texts, "counts": counts, "book_pages": len(book.pages),
            "book_outline": [item.title for item in book.outline]}


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
