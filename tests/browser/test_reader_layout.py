"""What a reader sees on a desktop (1280 px) and a phone (390 px): figures keep their shape and
stay inside the text column, display equations are never cut (at 1280 px none scrolls; on a
phone one that scrolls says so, takes keyboard focus and keeps its number clear of it), the
"Contents" button works on a phone, no request fails (not even the favicon), and axe-core finds
nothing serious at either width."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from nflib.course.viz import TEXT_SIZE_KEY

from browsing import DESKTOP, PHONE, describe_violations, open_tab, run_axe, toc_html_pages

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
ASPECT_TOLERANCE = 0.03

_LAYOUT_JS = r"""() => {
    const article = document.querySelector('article.bd-article');
    const column = article.getBoundingClientRect();
    const figures = [];
    for (const img of article.querySelectorAll('img')) {
        if (!img.complete || img.naturalWidth === 0 || img.clientWidth === 0) continue;
        const r = img.getBoundingClientRect();
        figures.push({src: (img.getAttribute('alt') || img.getAttribute('src') || '').slice(0, 60),
                      url: img.currentSrc || img.src || '',
                      record: img.getAttribute('data-nflib-text-size'),
                      naturalWidth: img.naturalWidth,
                      natural: img.naturalWidth / img.naturalHeight,
                      shown: r.width / r.height, width: r.width,
                      left: r.left - column.left, right: column.right - r.right});
    }
    const equations = [];
    for (const box of article.querySelectorAll('div.math > mjx-container[display="true"]')) {
        const r = box.getBoundingClientRect();
        if (r.width === 0) continue;
        const number = box.parentElement.querySelector(':scope > .eqno');
        const n = number ? number.getBoundingClientRect() : null;
        equations.push({text: (number ? number.textContent.replace('#', '') + ' ' : '')
                              + box.textContent.slice(0, 40),
                        scrolls: box.scrollWidth > box.clientWidth + 1,
                        marked: box.classList.contains('reader-scrolls'),
                        focusable: box.getAttribute('tabindex') === '0',
                        numberOverlaps: n ? n.left < r.right - 1 && n.right > r.left + 1 : false,
                        outside: r.right > column.right + 1 || r.left < column.left - 1});
    }
    return {figures, equations};
}"""


@pytest.fixture(scope="module")
def layout(browser, site):
    """Measure a page once per width; cached."""
    cache = {}

    def measure(path: str, width: str):
        key = (path, width)
        if key not in cache:
            viewport = WIDTHS[width]
            phone = width == "phone"
            with open_tab(browser, site, viewport=viewport, is_mobile=phone, has_touch=phone) as tab:
                tab.goto(path)
                tab.wait_for_math()
                tab.load_all_images()
                tab.page.wait_for_timeout(300)   # reader.js lays the equations out after MathJax
                facts = tab.page.evaluate(_LAYOUT_JS)
                facts["problems"] = tab.problems()
                facts["axe"] = describe_violations(run_axe(tab.page)) if phone else []
                cache[key] = facts
        return cache[key]

    return measure


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_figures_keep_their_aspect_ratio_inside_the_column(layout, path, width):
    facts = layout(path, width)
    distorted = [f"{f['src']}: drawn {f['shown']:.2f}, drawn from {f['natural']:.2f}"
                 for f in facts["figures"]
                 if abs(f["shown"] / f["natural"] - 1) > ASPECT_TOLERANCE]
    outside = [f"{f['src']}: {f['width']:.0f} px, sticks out by {max(-f['left'], -f['right']):.0f} px"
               for f in facts["figures"] if f["left"] < -1 or f["right"] < -1]
    at = f"{path} at {WIDTHS[width]['width']} px"
    assert not distorted, f"{at}, figures out of shape:\n" + "\n".join(distorted)
    assert not outside, f"{at}, figures wider than the column:\n" + "\n".join(outside)


#: the smallest text a figure may show, in CSS px, at each width (a phone is read closer)
SMALLEST_TEXT_PX = {"desktop": 11.0, "phone": 9.0}


def _text_px(figure, html_root: Path):
    """How large the figure's smallest text is drawn, in CSS px, or None if it has no record.

    The book's figures record their smallest font size in points (``nflib.course.viz``): in a
    PNG text chunk with the PNG's pixels per inch D, or, for a scrubber's frames, in a ``data-``
    attribute with the figure's width w in inches. Drawn R px wide, p points become
    p D R / (72 W) px (W the PNG's width in pixels), or p R / (72 w).
    """
    record = figure["record"]
    if record is None:
        path = urlparse(figure["url"]).path.lstrip("/")
        if not path.lower().endswith(".png") or not (html_root / path).is_file():
            return None
        with Image.open(html_root / path) as png:
            record = png.text.get(TEXT_SIZE_KEY)
            pixels = png.size[0]
        if record is None:
            return None
        facts = json.loads(record)
        width_in = pixels / facts["dpi"]
    else:
        facts = json.loads(record)
        width_in = facts["width_in"]
    if facts["min_font_pt"] is None:
        return float("inf")
    return facts["min_font_pt"] * figure["width"] / (72.0 * width_in)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_figure_text_is_legible(layout, built_book, path, width):
    """Every figure made by the book's code records its smallest text; drawn at this width that
    text is at least 9 CSS px on a phone and 11 px on a desktop."""
    facts = layout(path, width)
    small, unrecorded = [], []
    for figure in facts["figures"]:
        size = _text_px(figure, built_book.html)
        if size is None:
            if "_images/" in figure["url"] or figure["url"].startswith("data:image/png"):
                unrecorded.append(figure["src"])
        elif size < SMALLEST_TEXT_PX[width] - 0.05:
            small.append(f"{figure['src']}: {size:.1f} px")
    at = f"{path} at {WIDTHS[width]['width']} px"
    assert not unrecorded, f"{at}, figures that record no text size:\n" + "\n".join(unrecorded)
    assert not small, (f"{at}, figures whose smallest text is below "
                       f"{SMALLEST_TEXT_PX[width]:.0f} px:\n" + "\n".join(small))


@pytest.mark.parametrize("path", PAGES)
def test_no_display_equation_is_cut_on_a_desktop(layout, path):
    facts = layout(path, "desktop")
    cut = [e["text"] for e in facts["equations"] if e["scrolls"] or e["outside"]]
    assert not cut, f"{path} at 1280 px, equations wider than the column:\n" + "\n".join(cut)
    covered = [e["text"] for e in facts["equations"] if e["numberOverlaps"]]
    assert not covered, f"{path} at 1280 px, equation numbers over the formula:\n" + "\n".join(covered)


@pytest.mark.parametrize("path", PAGES)
def test_equations_that_scroll_on_a_phone_say_so(layout, path):
    facts = layout(path, "phone")
    silent = [e["text"] for e in facts["equations"] if e["scrolls"] and not (e["marked"] and e["focusable"])]
    covered = [e["text"] for e in facts["equations"] if e["numberOverlaps"]]
    outside = [e["text"] for e in facts["equations"] if e["outside"]]
    assert not silent, (f"{path} at 390 px, equations that scroll without a cue or keyboard "
                        "focus:\n" + "\n".join(silent))
    assert not covered, f"{path} at 390 px, equation numbers over the formula:\n" + "\n".join(covered)
    assert not outside, f"{path} at 390 px, equations wider than the column:\n" + "\n".join(outside)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_no_console_errors_or_failed_requests(layout, path, width):
    facts = layout(path, width)
    assert not facts["problems"], f"{path} at {WIDTHS[width]['width']} px:\n" + "\n".join(facts["problems"])


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_serious_on_a_phone(layout, path):
    facts = layout(path, "phone")
    assert not facts["axe"], f"{path} at 390 px:\n" + "\n".join(facts["axe"])


def test_the_start_page_and_its_favicon_load(browser, site):
    """index.html (a redirect) and the first page load with no failed request: the favicon exists."""
    with open_tab(browser, site) as tab:
        tab.goto("index.html")
        tab.page.wait_for_url(f"**/{PAGES[0]}", timeout=10000)   # index.html redirects
        tab.page.wait_for_load_state("load")
        tab.page.wait_for_timeout(500)
        icon = tab.page.evaluate("() => (document.querySelector('link[rel~=icon]') || {}).href || ''")
        problems = tab.problems()
    assert icon, "the page names no favicon"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", [p for p in PAGES if p.startswith("chapters/")][:1] or PAGES[:1])
def test_contents_button_opens_the_page_contents_on_a_phone(browser, site, path):
    with open_tab(browser, site, viewport=PHONE, is_mobile=True, has_touch=True,
                  skip_scripts=("tex-chtml.js",)) as tab:
        tab.goto(path, wait_until="load")
        button = tab.page.locator("button.secondary-toggle:visible")
        assert button.count() >= 1, f"{path}: no visible Contents button on a phone"
        button.first.click()
        links = tab.page.locator("#pst-secondary-sidebar-modal a.nav-link")
        links.first.wait_for(state="visible", timeout=5000)
        assert links.count() >= 3, f"{path}: the page contents list only {links.count()} sections"
        links.nth(1).click()
        tab.page.wait_for_timeout(300)
        assert "#" in tab.page.url, "choosing a section did not move to it"
        problems = tab.problems()
    assert not problems, "\n".join(problems)
