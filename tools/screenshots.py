"""Screenshots of every page of the book, in the light and the dark theme, on a desktop (1280 px)
and a phone (390 px), for people to look at.

    python tools/screenshots.py                          # the build in _build/html
    python tools/screenshots.py --html /tmp/b/_build/html --out screenshots --page intro.html

The site is served on 127.0.0.1 and opened in Debian's Chromium (``apt-get install -y chromium``)
with no network, exactly as the browser tests see it. One PNG per page, theme and width, named
``<page>-<theme>-<width>.png`` (folders in the page path become ``__``). ``--viewport-only``
keeps to the first screen instead of the whole page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from browsing import DESKTOP, PHONE, chromium_on, open_tab, toc_html_pages

ROOT = Path(__file__).resolve().parents[1]

THEMES = ("light", "dark")
WIDTHS = {DESKTOP["width"]: DESKTOP, PHONE["width"]: PHONE}


def screenshot_name(page: str, theme: str, width: int) -> str:
    return f"{page.removesuffix('.html').replace('/', '__')}-{theme}-{width}.png"


def take(html: Path, out: Path, pages: list[str], full_page: bool = True) -> list[Path]:
    """Write the screenshots and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with chromium_on(html) as (browser, site):
        for theme in THEMES:
            for width, viewport in WIDTHS.items():
                phone = viewport is PHONE
                for page in pages:
                    with open_tab(browser, site, viewport=viewport, color_scheme=theme,
                                  is_mobile=phone, has_touch=phone) as tab:
                        tab.goto(page)
                        tab.wait_for_math()
                        tab.load_all_images(scroll=True)
                        target = out / screenshot_name(page, theme, width)
                        tab.page.screenshot(path=str(target), full_page=full_page)
                        written.append(target)
                        for problem in tab.problems():
                            print(f"  {page} ({theme}, {width} px): {problem}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                        help="the built site (default: _build/html)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots",
                        help="folder for the PNG files (default: screenshots/)")
    parser.add_argument("--page", action="append", dest="pages",
                        help="a page such as chapters/01_change_of_variables.html (repeatable; "
                             "default: every page of _toc.yml)")
    parser.add_argument("--viewport-only", action="store_true",
                        help="only the first screen of each page, not the whole page")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        parser.error(f"{args.html} has no index.html: build the book first")
    pages = args.pages or toc_html_pages()
    written = take(args.html.resolve(), args.out, pages, full_page=not args.viewport_only)
    print(f"{len(written)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
