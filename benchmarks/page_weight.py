"""What a reader downloads to open each page of the built site, against the budget.

    python benchmarks/page_weight.py                     # the build in _build/html
    python benchmarks/page_weight.py --html /tmp/b/_build/html [--page chapters/03_x.html]

Every page of ``_toc.yml`` is opened in Chromium (offline, served on 127.0.0.1, like the browser
tests) in a fresh browser with an empty cache, and left to load and typeset its math, without
scrolling or touching a control: what it fetched is its *first load*. The files every page shares
(``_static/``: theme, icon fonts, MathJax; the search index) are cached after the first page, so
the page's own files (its HTML, its figures, the first frame of each slider) are what the *next
page* costs. The last column is what the page's own files weigh once the reader has scrolled to
its end (every figure, the first frame of each slider; the other frames come when a slider is
used). Each file counts as a static host sends it: text (HTML, JS, CSS, SVG, JSON, fonts
other than WOFF) gzipped at level 6, images and WOFF fonts as they are. Budgets, from the design:
at most 1.5 MB on first load and 0.5 MB for the next page (1 MB = 10^6 bytes).

``tests/browser/test_pages.py`` asserts the budget with :func:`measure`.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in ("tools", "tools/sphinx"):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))

from browsing import SHARED_ASSET, chromium_on, open_tab, toc_html_pages  # noqa: E402

FIRST_LOAD_BUDGET = 1_500_000
NEXT_PAGE_BUDGET = 500_000
COMPRESSED = {".html", ".js", ".css", ".svg", ".json", ".txt", ".xml", ".ttf", ".otf", ".ico", ".map"}


@dataclass
class Weight:
    """Bytes one page costs: raw and as sent gzipped, all of it and its own files only."""

    path: str
    first_raw: int = 0
    first_gzip: int = 0
    next_raw: int = 0
    next_gzip: int = 0
    files: list = field(default_factory=list)   # (gzip bytes, site path, shared?)
    read_gzip: int | None = None   # own files, gzip, once the reader has scrolled to the end

    @property
    def within_budget(self) -> bool:
        return self.first_gzip <= FIRST_LOAD_BUDGET and self.next_gzip <= NEXT_PAGE_BUDGET

    def heaviest(self, n: int = 4, own: bool = True) -> str:
        chosen = [f for f in self.files if not (own and f[2])][:n]
        return ", ".join(f"{path} {size / 1e3:.0f} kB" for size, path, _ in chosen)


_SIZES: dict[Path, tuple[int, int]] = {}


def sent_bytes(file: Path) -> tuple[int, int]:
    """(raw, as sent) bytes of a file of the site: text gzipped, images and WOFF fonts as they are."""
    if file not in _SIZES:
        data = file.read_bytes()
        sent = len(gzip.compress(data, 6)) if file.suffix.lower() in COMPRESSED else len(data)
        _SIZES[file] = (len(data), min(sent, len(data)))
    return _SIZES[file]


def weigh(html: Path, page: str, paths: list[str]) -> Weight:
    weight = Weight(path=page)
    for path in paths:
        file = html / path.lstrip("/")
        if not file.is_file():
            continue
        raw, sent = sent_bytes(file)
        shared = bool(SHARED_ASSET.match(path))
        weight.first_raw += raw
        weight.first_gzip += sent
        if not shared:
            weight.next_raw += raw
            weight.next_gzip += sent
        weight.files.append((sent, path, shared))
    weight.files.sort(reverse=True)
    return weight


def measure(browser, site, page: str, read_through: bool = False) -> Weight:
    """Open ``page`` once with an empty cache, let it load and typeset; what it fetched (and,
    with ``read_through``, what its own files weigh once the reader has scrolled to the end:
    every figure and the first frame of every slider, no other frame)."""
    with open_tab(browser, site) as tab:
        tab.goto(page)
        tab.wait_for_math()
        tab.page.wait_for_timeout(300)  # fonts the typeset math asked for
        weight = weigh(Path(site.root), page, tab.loaded_files())
        if read_through:
            tab.load_all_images()
            weight.read_gzip = weigh(Path(site.root), page, tab.loaded_files()).next_gzip
        return weight


def report(weights: list[Weight]) -> str:
    lines = [f"{'page':<46} {'first load':>21} {'next page':>21} {'read to end':>11}",
             f"{'':<46} {'raw':>10} {'gzip':>10} {'raw':>10} {'gzip':>10} {'own, gzip':>11}"]
    for w in weights:
        flag = "" if w.within_budget else "  OVER BUDGET"
        read = "" if w.read_gzip is None else f"{w.read_gzip / 1e6:9.2f}MB"
        lines.append(f"{w.path:<46} {w.first_raw / 1e6:8.2f}MB {w.first_gzip / 1e6:8.2f}MB "
                     f"{w.next_raw / 1e6:8.2f}MB {w.next_gzip / 1e6:8.2f}MB {read:>11}{flag}")
    lines.append(f"budget (gzip): first load {FIRST_LOAD_BUDGET / 1e6:.1f} MB, next page "
                 f"{NEXT_PAGE_BUDGET / 1e6:.1f} MB; "
                 f"{sum(w.within_budget for w in weights)} of {len(weights)} pages within it")
    if weights:
        heaviest = max(weights, key=lambda w: w.first_gzip)
        lines.append(f"heaviest: {heaviest.path}: {heaviest.heaviest(6, own=False)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                        help="the built site (default: _build/html)")
    parser.add_argument("--page", action="append", dest="pages", help="only this page (repeatable)")
    args = parser.parse_args(argv)
    html = args.html.resolve()
    if not (html / "index.html").exists():
        parser.error(f"{html} has no index.html: build the book first (make book)")
    with chromium_on(html) as (browser, site):
        weights = [measure(browser, site, page, read_through=True)
                   for page in (args.pages or toc_html_pages())]
    print(report(weights))
    return 0 if all(w.within_budget for w in weights) else 1


if __name__ == "__main__":
    raise SystemExit(main())
