"""Print the built site to PDF: one file per page and one for the whole book.

    python tools/make_pdf.py                       # the build in _build/html (make pdf)
    python tools/make_pdf.py --html /tmp/b/_build/html --page chapters/01_change_of_variables.html

Every page of ``_toc.yml`` is opened in Debian's Chromium (``apt-get install -y chromium``,
driven by Playwright, offline, served on 127.0.0.1 like the browser tests), its math typeset and
its figures loaded; then every solution, dropdown and hidden cell is opened (``reader.js``), and
the print styles of ``reader.css`` leave out what needs a browser (slider and quiz controls: the
quiz's answer key is printed right after the quiz instead) while ``print.css`` lets code and
outputs break across pages and keeps figures whole but at most half a page tall. The page is laid
out at the width of the printed text block, where every display equation wider than the column
is scaled down to fit it. The PDFs go where the download menu links them: ``pdf/<page>.pdf``
inside the site, and ``pdf/book.pdf`` (every page in reading order, with a bookmark per page)
joined with pypdf; the menu's PDF links, hidden by the build while there are no PDFs, are then
shown (``print_pages.show_pdf_links``).

A page's problems (console errors, failed requests, an equation still wider than the text block)
are printed.
"""

from __future__ import annotations

import argparse
import html as html_text
import os
import re
import sys
from pathlib import Path

from browsing import chromium_on, open_tab, toc_html_pages

from book import BOOK_PDF, PDF_FOLDER

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools" / "sphinx") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools" / "sphinx"))

from print_pages import show_pdf_links  # noqa: E402

# A4 with 15 mm margins; the page is laid out at the width of the printed text block (180 mm at
# 96 CSS px per inch), so what is measured in the page is what the PDF shows
PAPER = {"format": "A4", "margin": {"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"},
         "print_background": True}
PRINT_VIEWPORT = {"width": round(180 / 25.4 * 96), "height": round(267 / 25.4 * 96)}

# Before printing (after the site's own print preparation, reader.js's readerPrepareForPrint,
# which opens folded blocks and puts each quiz's answer key right after its quiz): every formula
# wider than its column (a display equation, or an inline one longer than a line) is scaled down
# to fit (on screen a formula too wide to read scales only so far, then scrolls: on paper it
# cannot scroll).
PREPARE_JS = r"""() => {
    const article = document.querySelector('article.bd-article') || document.body;
    // a formula (display, or inline and wider than a whole line) wider than its block: scaled
    article.querySelectorAll('mjx-container').forEach(box => {
        const display = box.getAttribute('display') === 'true';
        if (display) {
            box.style.fontSize = '';
            box.classList.remove('reader-scrolls');
            box.style.overflow = 'visible';
        }
        const math = box.querySelector(':scope > mjx-math');
        const block = display ? box.parentElement
            : box.parentElement.closest('p, li, dd, dt, td, th, figcaption, blockquote, div');
        if (!math || !block) return;
        const style = getComputedStyle(block);
        const rect = block.getBoundingClientRect();
        const left = rect.left + block.clientLeft + parseFloat(style.paddingLeft);
        const right = left + block.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        // scaled until it fits (a numbered equation's label and centring move it, so measure again)
        for (let round = 0; round < 4 && right > left; round++) {
            const r = math.getBoundingClientRect();
            const over = Math.max(0, r.right - right) + Math.max(0, left - r.left);
            if (over < 0.5) break;
            const size = parseFloat(getComputedStyle(box).fontSize);
            box.style.fontSize = (size * (right - left) / (right - left + over) * 0.98).toFixed(2) + 'px';
        }
    });
}"""

# What would not fit the printed page: a formula (display or inline) reaching past the text block
OVERFLOW_JS = r"""() => {
    const tex = box => {
        const items = window.MathJax && MathJax.startup && MathJax.startup.document
            && MathJax.startup.document.getMathItemsWithin
            ? MathJax.startup.document.getMathItemsWithin(box) : [];
        return items.length ? items[0].math : box.textContent;
    };
    const article = document.querySelector('article.bd-article') || document.body;
    const rect = article.getBoundingClientRect(), style = getComputedStyle(article);
    const block = {left: rect.left + parseFloat(style.paddingLeft),
                   right: rect.right - parseFloat(style.paddingRight)};
    block.width = block.right - block.left;
    return Array.from(article.querySelectorAll('mjx-container > mjx-math'))
        .filter(m => m.offsetParent !== null)
        .filter(m => { const r = m.getBoundingClientRect();
                       return r.width > 0 && (r.right > block.right + 1 || r.left < block.left - 1); })
        .map(m => `equation wider than the text block (${Math.round(m.getBoundingClientRect().width)}`
                  + ` px of ${Math.round(block.width)}): `
                  + tex(m.parentElement).slice(0, 80));
}"""


def pdf_path(html: Path, page: str) -> Path:
    """Where the PDF of ``page`` (e.g. 'chapters/01_x.html') goes inside the built site."""
    return html / PDF_FOLDER / (page.removesuffix(".html") + ".pdf")


def print_page(tab, page: str, target: Path) -> list[str]:
    """Print one page to ``target``; return the problems the page met. The file appears whole
    (written beside it, then renamed), so another process may read it at any moment."""
    tab.goto(page)
    tab.wait_for_math()
    tab.load_all_images(scroll=True)
    tab.page.emulate_media(media="print")
    tab.page.evaluate("() => { if (window.readerPrepareForPrint) window.readerPrepareForPrint(); }")
    tab.page.evaluate("async () => { if (window.MathJax && MathJax.typesetPromise)"
                      " await MathJax.typesetPromise(); }")
    tab.page.wait_for_timeout(200)
    tab.page.evaluate(PREPARE_JS)
    overflowing = tab.page.evaluate(OVERFLOW_JS)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    tab.page.pdf(path=str(partial), **PAPER)
    os.replace(partial, target)
    return tab.problems() + overflowing


def join(pdfs: list[tuple[str, Path]], target: Path) -> None:
    """One PDF of every page, in order, with a bookmark per page."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for title, path in pdfs:
        start = len(writer.pages)
        writer.append(PdfReader(str(path)))
        writer.add_outline_item(title=title, page_number=start)
    writer.add_metadata({"/Title": "Normalizing Flows, from change of variables to Glow"})
    with open(target, "wb") as handle:
        writer.write(handle)


def page_title(html: Path, page: str) -> str:
    """The title of a built page as its article's heading shows it (e.g. "5. Glow and ...")."""
    text = (html / page).read_text(encoding="utf-8")
    article = text[max(text.find("<article"), 0):]
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", article, re.DOTALL)
    if heading is None:
        return page
    title = re.sub(r'<a class="headerlink".*?</a>|<[^>]+>', "", heading.group(1), flags=re.DOTALL)
    return " ".join(html_text.unescape(title).split())


def print_pages(browser, site, html: Path, pages: list[str]) -> tuple[list, list[str]]:
    """Print every page with a running browser and a served site: ([(title, pdf)], problems)."""
    written, problems = [], []
    for page in pages:
        target = pdf_path(html, page)
        with open_tab(browser, site, viewport=PRINT_VIEWPORT) as tab:
            problems += [f"{page}: {p}" for p in print_page(tab, page, target)]
        written.append((page_title(html, page), target))
    return written, problems


def make_pdfs(html: Path, pages: list[str], book: bool = True, browser=None,
              site=None) -> tuple[list[Path], list[str]]:
    """Print ``pages`` of the site in ``html`` (and join them into the book); return the PDFs and
    the problems the pages met (each problem also printed). A test passes the browser and the
    served site it already has."""
    if browser is not None and site is not None:
        written, problems = print_pages(browser, site, html, pages)
    else:
        with chromium_on(html) as (browser, site):
            written, problems = print_pages(browser, site, html, pages)
    for problem in problems:
        print(problem)
    paths = [path for _, path in written]
    if book:
        target = html / PDF_FOLDER / BOOK_PDF
        join(written, target)
        paths.append(target)
    show_pdf_links(html)
    return paths, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                        help="the built site (default: _build/html)")
    parser.add_argument("--page", action="append", dest="pages",
                        help="print only this page (repeatable); the book PDF is then not made")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        parser.error(f"{args.html} has no index.html: build the book first (make book)")
    pages = args.pages or toc_html_pages()
    paths, _ = make_pdfs(args.html.resolve(), pages, book=not args.pages)
    print(f"{len(paths)} PDFs in {args.html / PDF_FOLDER}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
