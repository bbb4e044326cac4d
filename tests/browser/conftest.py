"""Fixtures for the browser suite: the built book served on 127.0.0.1, one Chromium per session,
and two visits per page whose findings the tests read: ``page_report`` at desktop width (1280 px;
dark theme first, then light, controls worked, axe-core) and ``phone_dark_report`` on a phone
(390 px, touch, dark theme). Each page's tests run on one worker (``tests/conftest.py``), so a
page is visited twice in all.

Chromium comes from Debian (``apt-get install -y chromium``); Playwright (from PyPI) drives it.
Set BOOK_HTML=path/to/_build/html to test an existing build instead of building the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browsing import (CHROMIUM_ARGS, DESKTOP, PHONE, PHONE_AXE_RULES, chromium_path,
                      describe_violations, open_tab, run_axe_lean, serve)
from interactions import exercise_animations, exercise_disclosures, exercise_quizzes
from reader_checks import (DARK_CONTRAST_JS, OVERFLOW_JS, TRANSPARENCY_JS, layout_facts,
                           reader_checks)

INTERACTIONS = {"quizzes": exercise_quizzes, "disclosures": exercise_disclosures,
                "animations": exercise_animations}


@pytest.fixture(scope="session")
def site(built_book):
    if built_book.returncode != 0:
        pytest.fail(f"the book did not build:\n{built_book.log[-4000:]}")
    with serve(built_book.html) as served:
        yield served


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        # launch() gives every session a fresh, temporary user-data directory
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class DesktopDark:
    """The page at 1280 px in the dark theme, as it opens: the shared reader checks and what is
    wider than its box."""

    theme: str
    overflow: list[str]
    checks: dict


@dataclass
class PageReport:
    """What one desktop visit (1280 px) of a page found: first in the dark theme (``dark``), then
    in the light theme (everything else)."""

    path: str
    problems: list[str]
    broken_images: list[str]
    math_elements: int
    unrendered_math: list[str]
    needless_scrolling: list[str]
    math_errors: list[str]
    raw_tex: list[str]
    images_without_text: list[str]
    blurry_images: list[str]
    axe_serious: list[str]
    own_bytes: int
    shared_bytes: int
    heaviest_files: list = field(default_factory=list)
    interactions: dict = field(default_factory=dict)   # kind -> (errors, number of controls)
    interaction_problems: list = field(default_factory=list)
    layout: dict = field(default_factory=dict)   # reader_checks.LAYOUT_JS, and "problems"
    dark: DesktopDark | None = None
    first_load: list[str] = field(default_factory=list)   # site paths fetched as the page opened
    downloads: dict = field(default_factory=dict)          # _download_menu


WEIGHTS: dict[str, PageReport] = {}


_PAGE_FACTS_JS = r"""() => {
    const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    const describe = el => el.outerHTML.slice(0, 140);
    const broken = Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0))
        .map(img => (img.getAttribute('src') || '').slice(0, 100) || describe(img));
    const maths = Array.from(article.querySelectorAll('.math'));
    const unrendered = maths.filter(m => !m.querySelector('mjx-container'))
        .map(m => m.textContent.slice(0, 100));
    const errors = Array.from(document.querySelectorAll('mjx-merror'))
        .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
    // text a reader sees, leaving out code, program output and typeset math
    const clone = article.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight, .output')
        .forEach(el => el.remove());
    const text = clone.textContent;
    const raw = [];
    const pattern = /\\begin\{|\\end\{|\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\s][^$\n]*?\$/g;
    let match;
    while ((match = pattern.exec(text)) !== null && raw.length < 5) {
        raw.push(text.slice(Math.max(0, match.index - 40), match.index + 60).replace(/\s+/g, ' '));
    }
    // a file name is no description (myst-nb writes the image's path when none is given)
    const describes = text => text && !/^[^\s]*\.(png|jpe?g|svg|gif)$/i.test(text);
    const wordless = Array.from(article.querySelectorAll('img')).filter(img => {
        const alt = describes((img.getAttribute('alt') || '').trim());
        const label = (img.getAttribute('aria-label') || '').trim();
        const figure = img.closest('figure');
        const caption = figure && figure.querySelector('figcaption');
        return !alt && !label && !(caption && caption.textContent.trim());
    }).map(img => (img.getAttribute('src') || '').slice(0, 80) || describe(img));
    // raster figures need twice the pixels they are drawn with to stay sharp on 2x screens
    const blurry = Array.from(article.querySelectorAll('img')).filter(img => {
        const src = img.currentSrc || img.src || '';
        if (/\.svg(\?|$)|^data:image\/svg/i.test(src) || img.clientWidth === 0) return false;
        return img.naturalWidth < 1.5 * img.clientWidth;
    }).map(img => `${(img.getAttribute('alt') || img.getAttribute('src') || '').slice(0, 60)}: `
                  + `${img.naturalWidth} px drawn ${img.clientWidth} px wide`);
    // a formula that fits its box must not scroll (a scroll bar under every formula)
    const needless = Array.from(article.querySelectorAll('mjx-container')).filter(m => {
        const s = getComputedStyle(m);
        if (s.overflowX !== 'auto' && s.overflowX !== 'scroll') return false;
        const math = m.querySelector('mjx-math');
        const needs = (math ? math.getBoundingClientRect().width : 0)
            + parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
        return m.scrollWidth > Math.max(m.clientWidth, needs) + 2;
    }).map(m => `${m.textContent.slice(0, 40)} (${m.scrollWidth} px of scrolling for ${m.clientWidth} px)`);
    return {broken, maths: maths.length, unrendered, errors, raw, wordless, blurry, needless};
}"""


def _use_controls(tab, path: str) -> tuple[dict, list[str]]:
    """Work the page's quizzes, dropdowns and animations; return what each found and the console
    errors and failed requests they caused."""
    before = len(tab.problems())
    results = {}
    for kind, exercise in INTERACTIONS.items():
        try:
            results[kind] = exercise(tab.page, path)
        except Exception as exc:  # a control that cannot be used is a finding, not a crash
            results[kind] = ([f"{path}: working the {kind} failed: {exc}"], 1)
    if tab.path != path:
        results["navigation"] = ([f"{path}: using the controls left the page for {tab.path}"], 1)
        tab.goto(path)
        tab.wait_for_math()
    return results, tab.problems()[before:]


def _download_menu(tab) -> dict:
    """Open the download menu as a reader does: the .ipynb link's URL (None if the page offers
    none), whether it showed once the menu opened, and the Binder launch links' URLs."""
    toggle = tab.page.locator(".dropdown-download-buttons button.dropdown-toggle")
    link = tab.page.locator(".dropdown-download-buttons a.btn-download-notebook-button")
    shown = False
    if toggle.count() and link.count():
        toggle.first.click()
        try:
            link.first.wait_for(state="visible", timeout=5000)
            shown = True
        except PlaywrightTimeout:   # a link that never shows is the finding
            pass
        tab.page.keyboard.press("Escape")
    href = link.first.get_attribute("href") if link.count() else None
    return {"ipynb": urljoin(tab.page.url, href) if href else None, "shown": shown,
            "binder": tab.page.eval_on_selector_all("a[href*='mybinder.org']",
                                                     "links => links.map(a => a.href)")}


def _dark_as_it_opens(tab) -> DesktopDark:
    """Switch the open page to the dark theme (the reader's setting; the theme follows it live),
    run the checks, and switch back to light."""
    tab.page.emulate_media(color_scheme="dark")
    tab.page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    checks = reader_checks(tab.page, phone=False)
    # an accent's glyph (a tilde, a bar) may overhang its formula's box by a pixel or two; that
    # is no formula cut off
    overflow = [line for line in tab.page.evaluate(OVERFLOW_JS) if not line.startswith("mjx-c.")]
    dark = DesktopDark(theme=tab.page.evaluate("() => document.documentElement.dataset.theme"),
                       overflow=overflow, checks=checks)
    tab.page.emulate_media(color_scheme="light")
    tab.page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
    return dark


@pytest.fixture(scope="session")
def page_report(browser, site):
    """Visit a page once at desktop width with an empty cache: note what it fetched as it
    opened, check it in the dark theme, then in the light theme record every per-page check and
    the layout, work its controls, and run axe-core (so opened solutions and quiz feedback are
    checked too; browsing.run_axe_lean); last, open its download menu.
    Cached."""
    cache: dict[str, PageReport] = {}

    def report(path: str) -> PageReport:
        if path not in cache:
            with open_tab(browser, site, viewport=DESKTOP) as tab:
                tab.goto(path)
                tab.wait_for_math()
                tab.page.wait_for_timeout(300)   # the fonts the typeset math asked for
                first_load = tab.loaded_files()
                dark = _dark_as_it_opens(tab)
                tab.load_all_images()
                layout = layout_facts(tab.page)
                facts = tab.page.evaluate(_PAGE_FACTS_JS)
                weight = tab.transfer_bytes()
                problems = tab.problems()
                layout["problems"] = problems
                interactions, interaction_problems = _use_controls(tab, path)
                axe = describe_violations(run_axe_lean(tab.page))
                downloads = _download_menu(tab)
                cache[path] = PageReport(
                    path=path, problems=problems, broken_images=facts["broken"],
                    math_elements=facts["maths"], unrendered_math=facts["unrendered"],
                    needless_scrolling=facts["needless"],
                    math_errors=facts["errors"], raw_tex=facts["raw"],
                    images_without_text=facts["wordless"], blurry_images=facts["blurry"],
                    axe_serious=axe,
                    own_bytes=weight["own"], shared_bytes=weight["shared"],
                    heaviest_files=weight["files"][:3], interactions=interactions,
                    interaction_problems=interaction_problems, layout=layout, dark=dark,
                    first_load=first_load, downloads=downloads)
                WEIGHTS[path] = cache[path]
        return cache[path]

    return report


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
    layout: dict      # reader_checks.LAYOUT_JS, and "problems"
    axe: list[str]    # serious or critical violations of PHONE_AXE_RULES


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
                overflow = tab.page.evaluate(OVERFLOW_JS)
                see_through = [f"{i['src']} ({i['clear']:.0%} transparent)"
                               for i in tab.page.evaluate(TRANSPARENCY_JS) if i["clear"] > 0]
                contrast = tab.page.evaluate(DARK_CONTRAST_JS)
                checks = reader_checks(tab.page, phone=True)
                layout = layout_facts(tab.page)
                problems = tab.problems()
                layout["problems"] = problems
                axe = describe_violations(run_axe_lean(tab.page, {
                    "resultTypes": ["violations"], "preload": False,
                    "runOnly": {"type": "rule", "values": PHONE_AXE_RULES}}))
                cache[path] = PhoneDarkReport(
                    path=path, theme=tab.page.evaluate("() => document.documentElement.dataset.theme"),
                    overflow=overflow, see_through=see_through, faint_controls=contrast["controls"],
                    low_contrast_text=contrast["text"], problems=problems, checks=checks,
                    layout=layout, axe=axe)
        return cache[path]

    return report


def pytest_terminal_summary(terminalreporter):
    if not WEIGHTS:
        return
    reports = sorted(WEIGHTS.values(), key=lambda r: r.own_bytes, reverse=True)
    terminalreporter.write_sep("-", "page weight (bytes transferred, shared theme/MathJax assets "
                                    "excluded)")
    for r in reports:
        terminalreporter.write_line(f"{r.own_bytes / 1e6:7.3f} MB  {r.path}")
    heaviest = reports[0]
    files = ", ".join(f"{path} {size / 1e6:.3f} MB" for size, path in heaviest.heaviest_files)
    terminalreporter.write_line(f"heaviest page: {heaviest.path} {heaviest.own_bytes / 1e6:.3f} MB "
                                f"({files}); shared assets on that page "
                                f"{heaviest.shared_bytes / 1e6:.3f} MB")
