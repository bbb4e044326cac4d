"""Printed pages and PDFs: the print stylesheet, and PDF links only to PDFs that exist.

* ``_static/print.css`` (from ``assets/site``) lays printed pages out like a book's: it is added
  to every page for print media, after the site's own stylesheets.
* The download menu links each page's PDF and the whole book's (``notebook_downloads.py``), which
  ``tools/make_pdf.py`` prints from the built site (``make pdf``). A site built without them
  (``make book`` alone) would offer links that answer 404, so when the site is written every PDF
  link whose file is not there is hidden (its menu item gets ``hidden``), and shown again by
  :func:`show_pdf_links`, which ``make_pdf.py`` runs once it has printed the PDFs.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

PRINT_CSS = "print.css"
# the download menu's item of a PDF: <li><a href="...pdf" ... btn-download-(book-)pdf-button ...
PDF_ITEM = re.compile(r'<li(?P<hidden> hidden)?(?P<mark> data-pdf-link="")?>'
                      r'(?P<link><a href="(?P<href>[^"]+\.pdf)"[^>]*btn-download-(?:book-)?pdf-button)')


def show_pdf_links(html_root) -> int:
    """Show the PDF links of every page whose PDF exists in the site, hide the others; return
    how many pages changed."""
    html_root = Path(html_root)
    changed = 0
    for page in html_root.rglob("*.html"):
        if any(part.startswith("_") for part in page.relative_to(html_root).parts[:-1]):
            continue
        text = page.read_text(encoding="utf-8")
        if ".pdf" not in text:
            continue

        def mark(match, page=page):
            target = posixpath.normpath(posixpath.join(page.parent.relative_to(html_root).as_posix(),
                                                       match.group("href")))
            exists = (html_root / target).is_file()
            return f'<li{"" if exists else " hidden"} data-pdf-link="">{match.group("link")}'

        new = PDF_ITEM.sub(mark, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        show_pdf_links(app.outdir)


def setup(app):
    # after the theme's and the site's stylesheets (html_css_files come at priority 800)
    app.add_css_file(PRINT_CSS, media="print", priority=900)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
