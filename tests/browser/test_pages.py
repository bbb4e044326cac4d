"""Every page of _toc.yml, opened in Chromium at desktop width in the light theme, with no
network: it loads cleanly, its images and math render, it passes axe-core, and it stays light
(the budget of benchmarks/page_weight.py)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from browsing import DESKTOP, REPO, describe_violations, open_tab, run_axe, toc_html_pages

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()
EMBEDDED_FRAME = re.compile(r'frames\[\d+\]\s*=\s*"data:')


def _page_weight():
    """benchmarks/page_weight.py, which measures what a page costs and holds the budget."""
    spec = importlib.util.spec_from_file_location("page_weight", REPO / "benchmarks" / "page_weight.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


PAGE_WEIGHT = _page_weight()


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors_or_other_hosts(page_report, path):
    report = page_report(path)
    assert not report.problems, f"{path}:\n" + "\n".join(report.problems)


@pytest.mark.parametrize("path", PAGES)
def test_every_image_loaded(page_report, path):
    report = page_report(path)
    assert not report.broken_images, f"{path}: images that did not load: {report.broken_images}"


@pytest.mark.parametrize("path", PAGES)
def test_math_is_typeset(page_report, path):
    report = page_report(path)
    assert not report.unrendered_math, (
        f"{path}: {len(report.unrendered_math)} of {report.math_elements} math elements were "
        f"not typeset: {report.unrendered_math[:3]}")
    assert not report.math_errors, f"{path}: MathJax reported errors: {report.math_errors}"
    assert not report.raw_tex, f"{path}: raw TeX left in the visible text: {report.raw_tex}"


@pytest.mark.parametrize("path", PAGES)
def test_formulas_that_fit_have_no_scroll_bar(page_report, path):
    report = page_report(path)
    assert not report.needless_scrolling, (
        f"{path}: formulas that scroll although they fit: {report.needless_scrolling[:5]}")


@pytest.mark.parametrize("path", PAGES)
def test_every_figure_has_alt_text_or_caption(page_report, path):
    report = page_report(path)
    assert not report.images_without_text, (
        f"{path}: images with neither alt text (a file name is not one) nor a caption: "
        f"{report.images_without_text}")


@pytest.mark.parametrize("path", PAGES)
def test_figures_are_crisp_on_high_density_screens(page_report, path):
    report = page_report(path)
    assert not report.blurry_images, (
        f"{path}: raster figures with fewer than 2 pixels per CSS pixel (use SVG or 2x PNG): "
        f"{report.blurry_images}")


@pytest.mark.parametrize("path", PAGES)
def test_no_serious_accessibility_violations(page_report, path):
    report = page_report(path)
    assert not report.axe_serious, (
        f"{path}: axe-core found serious or critical violations:\n" + "\n".join(report.axe_serious))


def code_token_kinds(html_root: Path) -> list[str]:
    """The classes of the highlighted tokens (Pygments' short names: k, n, s2, ...) in the code
    blocks of every page of the book."""
    kinds = set()
    for path in PAGES:
        html = (html_root / path).read_text(encoding="utf-8")
        for block in re.findall(r'<div class="highlight"><pre>(.*?)</pre>', html, re.DOTALL):
            kinds.update(re.findall(r'<span class="([\w-]+)"', block))
    return sorted(kinds)


# A copy of the page's first code cell in view (not folded) whose code is one line per token
# kind and a plain line; returns how many lines hold visible text
_TOKEN_SAMPLE_JS = r"""(kinds) => {
    const cell = Array.from(document.querySelectorAll('div.cell_input div[class^="highlight-"]'))
        .find(c => c.checkVisibility({visibilityProperty: true}));
    const copy = cell.cloneNode(true);
    copy.setAttribute('data-token-sample', '');
    copy.querySelector('pre').innerHTML = kinds.map(k => `<span class="${k}">token_${k}</span>`)
        .join('\n') + '\nplain_text\n';
    cell.after(copy);
    return Array.from(copy.querySelectorAll('pre > span'))
        .filter(s => s.checkVisibility({visibilityProperty: true})).length;
}"""


def test_every_code_token_kind_is_legible(browser, site):
    """Every kind of highlighted token the book's code uses has the contrast axe-core asks of
    text on the code block's background, in the light and in the dark theme (the per-page axe
    runs read code as plain text in its block's colour: browsing.run_axe_lean)."""
    kinds = code_token_kinds(Path(site.root))
    assert {"k", "n", "mi", "s2"} <= set(kinds), f"the book's code has too few token kinds: {kinds}"
    page = "exercises/01_change_of_variables.html"
    found = []
    with open_tab(browser, site, viewport=DESKTOP) as tab:
        tab.goto(page)
        tab.wait_for_math()
        assert tab.page.evaluate(_TOKEN_SAMPLE_JS, kinds) == len(kinds), f"{page}: sample hidden"
        options = {"preload": False, "runOnly": {"type": "rule", "values": ["color-contrast"]}}
        for theme in ("light", "dark"):
            tab.page.emulate_media(color_scheme=theme)
            tab.page.wait_for_function(f"() => document.documentElement.dataset.theme === '{theme}'")
            result = run_axe(tab.page, options, "[data-token-sample]", outcome=None)
            found += [f"{theme} theme: {line}" for line in describe_violations(result["violations"])]
            # each token (and the plain line, the <pre>'s own text) passed, failed or was undecided
            judged = sum(len(r["nodes"]) for part in ("passes", "violations", "incomplete")
                         for r in result[part])
            assert judged == len(kinds) + 1, f"{theme}: axe judged {judged} of {len(kinds) + 1} lines"
            found += [f"{theme} theme, undecided: {r['id']} on {len(r['nodes'])} token(s)"
                      for r in result["incomplete"]]
    assert not found, "code tokens too faint on their background:\n" + "\n".join(found)


@pytest.mark.parametrize("path", PAGES)
def test_page_weight(page_report, site, path):
    """First load (empty cache) and next page (shared assets cached), gzipped, within budget;
    slider frames are files fetched when used, and Font Awesome comes once (its web font)."""
    html = (site.root / path).read_text(encoding="utf-8")
    assert not EMBEDDED_FRAME.search(html), f"{path}: slider frames embedded in the page's HTML"
    weight = PAGE_WEIGHT.weigh(Path(site.root), path, page_report(path).first_load)
    loaded = [file for _, file, _ in weight.files]
    assert not [f for f in loaded if f.endswith("fontawesome.js")], (
        f"{path}: Font Awesome loaded twice (its SVG script beside its web font)")
    assert not [f for f in loaded if "/_images/frames/" in f and f not in _first_frames(html, path)], (
        f"{path}: slider frames fetched before the reader used the slider")
    assert weight.first_gzip <= PAGE_WEIGHT.FIRST_LOAD_BUDGET, (
        f"{path}: {weight.first_gzip / 1e6:.2f} MB (gzip) on first load, over "
        f"{PAGE_WEIGHT.FIRST_LOAD_BUDGET / 1e6:.1f} MB; heaviest: {weight.heaviest(own=False)}")
    assert weight.next_gzip <= PAGE_WEIGHT.NEXT_PAGE_BUDGET, (
        f"{path}: {weight.next_gzip / 1e6:.2f} MB (gzip) for the page's own files, over "
        f"{PAGE_WEIGHT.NEXT_PAGE_BUDGET / 1e6:.1f} MB; heaviest: {weight.heaviest()}")


def _first_frames(html: str, path: str) -> set[str]:
    """Site paths of the frames a page shows before its sliders are used (the first ones)."""
    folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    found = set()
    for src in re.findall(r'<img[^>]*id="_anim_img[^"]*"[^>]*>', html):
        match = re.search(r'\ssrc="([^"]+)"', src)
        if match:
            parts = []
            for part in (folder + match.group(1)).split("/"):
                if part == "..":
                    parts.pop()
                elif part not in ("", "."):
                    parts.append(part)
            found.add("/" + "/".join(parts))
    return found


def test_landing_page_renders_math_offline(browser, site):
    """index.html (a redirect) lands on the first page with typeset math and no other host."""
    with open_tab(browser, site) as tab:
        tab.goto("index.html")
        tab.page.wait_for_url("**/intro.html")
        tab.page.wait_for_load_state("load")
        tab.wait_for_math()
        assert tab.page.locator("mjx-container").count() > 0, "no math typeset on the landing page"
        assert not tab.problems(), "\n".join(tab.problems())
