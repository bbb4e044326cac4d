"""What a reader sees on a desktop (1280 px) and a phone (390 px): figures keep their shape and
stay inside the text column, display equations are never cut (at 1280 px none scrolls; on a
phone one that scrolls says so, takes keyboard focus and keeps its number clear of it), the
"Contents" button works on a phone, no request fails (not even the favicon), and axe-core finds
nothing serious at either width (every rule at 1280 px, on ``page_report``'s visit; at 390 px the
rules that depend on the screen's width and on touch, ``PHONE_AXE_RULES``)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from nflib.course.viz import TEXT_SIZE_KEY

from browsing import DESKTOP, PHONE, open_tab, toc_html_pages

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
ASPECT_TOLERANCE = 0.03

@pytest.fixture(scope="session")
def layout(page_report, phone_dark_report):
    """A page's figures and equations, and the console's complaints, as measured at each width:
    at 1280 px by the desktop visit (light theme), at 390 px by the phone visit (dark theme; the
    layout does not depend on the theme)."""
    def measure(path: str, width: str) -> dict:
        return (page_report if width == "desktop" else phone_dark_report)(path).layout

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
    return facts["min_font_pt"] * figure["drawnWidth"] / (72.0 * width_in)


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
def test_axe_finds_nothing_serious_on_a_phone(phone_dark_report, path):
    axe = phone_dark_report(path).axe
    assert not axe, f"{path} at 390 px:\n" + "\n".join(axe)


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
