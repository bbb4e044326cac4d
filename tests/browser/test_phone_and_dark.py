"""Every page on a phone (390 px wide) and in the dark theme: nothing spills off the screen,
figures keep an opaque background, text and controls keep their contrast; search is in view,
every box that scrolls sideways says so, controls are big enough to touch, quiz cards and slider
panels turn dark."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from browsing import PHONE, open_tab, toc_html_pages
from reader_checks import CONTRAST_HELPERS_JS, reader_checks

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()

# Elements of the article that a reader cannot see whole: wider than the screen, cut off by a box
# that hides its overflow, or sticking out of a coloured box (white text leaving its dark card),
# and not inside a box that scrolls sideways (and itself fits).
# Hidden helpers (clipped on purpose, MathJax's speech text) do not count.
_OVERFLOW_JS = r"""() => {
    const vw = document.documentElement.clientWidth;
    const found = [];
    const page = document.documentElement.scrollWidth;
    if (page > vw + 1) found.push(`the page scrolls sideways: ${page}px wide on a ${vw}px screen`);
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const within = (r, box) => r.right <= box.right + 1 && r.left >= box.left - 1;
    const screen = {left: 0, right: vw};
    const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
    const reported = [];
    for (const el of article.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (el.closest('mjx-assistive-mml')) continue;
        if (reported.some(p => p.contains(el))) continue;
        let problem = null, shown = r;   // shown: the part that must fit further out
        for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
            const s = getComputedStyle(box), b = box.getBoundingClientRect();
            if (s.overflowX === 'auto' || s.overflowX === 'scroll') { shown = b; continue; }
            if ((s.overflowX === 'hidden' || s.overflowX === 'clip') && !within(shown, b)) {
                problem = `cut off by ${name(box)} (${Math.round(b.left)}..${Math.round(b.right)}px)`;
                break;
            }
            const paint = (s.backgroundColor.match(/[\d.]+/g) || []).map(Number);
            if (paint.length && (paint.length < 4 || paint[3] > 0.5) && !within(shown, b)) {
                problem = `sticks out of ${name(box)} (${Math.round(b.left)}..${Math.round(b.right)}px), off its background`;
                break;
            }
            if (box === article) {
                if (!within(shown, screen)) problem = 'wider than the screen';
                break;
            }
        }
        if (!problem) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || style.position === 'fixed'
            || (style.clip && style.clip !== 'auto') || style.clipPath !== 'none') continue;
        reported.push(el);
        found.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)}px, ${problem}: `
                   + el.textContent.trim().slice(0, 60));
        if (found.length >= 6) break;
    }
    return found;
}"""


# Share of pixels that are not fully opaque, for every image in the article, drawn on a canvas.
_TRANSPARENCY_JS = r"""async () => {
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const out = [];
    for (const img of article.querySelectorAll('img')) {
        if (!img.complete || img.naturalWidth === 0) continue;
        const scale = Math.min(1, 300 / img.naturalWidth);
        const w = Math.max(1, Math.round(img.naturalWidth * scale));
        const h = Math.max(1, Math.round(img.naturalHeight * scale));
        const canvas = document.createElement('canvas');
        canvas.width = w; canvas.height = h;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0, w, h);
        const data = ctx.getImageData(0, 0, w, h).data;
        let clear = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] < 250) clear++;
        out.push({src: (img.getAttribute('src') || '').slice(0, 90), clear: clear / (w * h)});
    }
    return out;
}"""

# Contrast in the article, computed from the styles (fast enough for long pages; axe-core checks
# the light theme in full in test_pages.py). Text needs 4.5:1 (3:1 when large); the icon or
# label of a button needs 3:1 against the button (WCAG 1.4.3 and 1.4.11). Code blocks keep the
# theme's own accessible highlighting and are left out, as is text over a picture.
_CONTRAST_JS = r"""() => {
""" + CONTRAST_HELPERS_JS + r"""    const background = el => {       // null when the text sits on a picture
        for (let e = el; e; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.backgroundImage !== 'none') return null;
            const c = parse(s.backgroundColor);
            if (c[3] > 0.5) return c;
        }
        return parse(getComputedStyle(document.body).backgroundColor);
    };
    const name = el => el.tagName.toLowerCase()
        + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '');
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const text = [], controls = [];
    for (const el of article.querySelectorAll('*')) {
        if (el.closest('pre, .highlight, mjx-container, svg, script, style')) continue;
        const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
        const bg = background(el);
        if (!bg) continue;
        const s = getComputedStyle(el);
        const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
        const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
        const r = ratio(parse(s.color), bg);
        if (r < need && text.length < 6)
            text.push(`${name(el)} "${el.textContent.trim().slice(0, 40)}": ${r.toFixed(2)}:1`);
    }
    for (const button of article.querySelectorAll('button, label.MCButton')) {
        if (!button.checkVisibility()) continue;
        const bg = background(button);
        if (!bg) continue;
        const fg = parse(getComputedStyle(button.querySelector('i, span, svg') || button).color);
        const r = ratio(fg, bg);
        if (r < 3) controls.push(`${button.getAttribute('aria-label') || button.textContent.trim().slice(0, 40)}: ${r.toFixed(2)}:1`);
    }
    return {text, controls};
}"""


@dataclass
class PhoneDarkReport:
    path: str
    theme: str
    overflow: list[str]
    see_through: list[str]
    faint_controls: list[str]
    low_contrast_text: list[str]
    problems: list[str]
    checks: dict


@pytest.fixture(scope="session")
def phone_dark_report(browser, site):
    """Visit a page once on a phone (390 px, touch) in the dark theme; cached."""
    cache: dict[str, PhoneDarkReport] = {}

    def report(path: str) -> PhoneDarkReport:
        if path not in cache:
            with open_tab(browser, site, viewport=PHONE, color_scheme="dark", is_mobile=True,
                          has_touch=True) as tab:
                tab.goto(path)
                tab.wait_for_math()
                tab.load_all_images()
                overflow = tab.page.evaluate(_OVERFLOW_JS)
                see_through = [f"{i['src']} ({i['clear']:.0%} transparent)"
                               for i in tab.page.evaluate(_TRANSPARENCY_JS) if i["clear"] > 0]
                contrast = tab.page.evaluate(_CONTRAST_JS)
                checks = reader_checks(tab.page, phone=True)
                problems = tab.problems()
                cache[path] = PhoneDarkReport(
                    path=path, theme=tab.page.evaluate("() => document.documentElement.dataset.theme"),
                    overflow=overflow, see_through=see_through, faint_controls=contrast["controls"],
                    low_contrast_text=contrast["text"], problems=problems, checks=checks)
        return cache[path]

    return report


@pytest.mark.parametrize("path", PAGES)
def test_nothing_overflows_a_phone_screen(phone_dark_report, path):
    report = phone_dark_report(path)
    assert not report.overflow, f"{path} at {PHONE['width']} px:\n" + "\n".join(report.overflow)
    assert not report.problems, f"{path} on a phone:\n" + "\n".join(report.problems)


@pytest.mark.parametrize("path", PAGES)
def test_dark_theme_keeps_figures_opaque(phone_dark_report, path):
    report = phone_dark_report(path)
    assert report.theme == "dark", f"{path}: the site did not follow the reader's dark setting"
    assert not report.see_through, (f"{path}: figures without an opaque background "
                                    f"(unreadable on the dark theme): {report.see_through}")


@pytest.mark.parametrize("path", PAGES)
def test_dark_theme_keeps_text_and_controls_legible(phone_dark_report, path):
    report = phone_dark_report(path)
    assert not report.faint_controls, (
        f"{path}: controls with too little contrast in the dark theme: {report.faint_controls}")
    assert not report.low_contrast_text, (
        f"{path}: text with too little contrast in the dark theme: {report.low_contrast_text}")


@pytest.mark.parametrize("path", PAGES)
def test_search_is_in_view_on_a_phone(phone_dark_report, path):
    report = phone_dark_report(path)
    assert report.checks["search"], f"{path} at {PHONE['width']} px: no search control in view"


@pytest.mark.parametrize("path", PAGES)
def test_what_scrolls_sideways_on_a_phone_says_so(phone_dark_report, path):
    report = phone_dark_report(path)
    assert not report.checks["unmarked"], (
        f"{path} at {PHONE['width']} px: boxes wider than their column with no scroll cue:\n"
        + "\n".join(report.checks["unmarked"]))


@pytest.mark.parametrize("path", PAGES)
def test_controls_are_big_enough_to_touch(phone_dark_report, path):
    report = phone_dark_report(path)
    assert not report.checks["small"], (
        f"{path} at {PHONE['width']} px: controls too small to touch (quiz and slider controls "
        f"44 px, others 24 px):\n" + "\n".join(report.checks["small"]))


@pytest.mark.parametrize("path", PAGES)
def test_quiz_cards_and_slider_panels_turn_dark(phone_dark_report, path):
    report = phone_dark_report(path)
    assert not report.checks["panels"], (
        f"{path}: quiz cards or slider panels on the dark theme:\n"
        + "\n".join(report.checks["panels"]))
