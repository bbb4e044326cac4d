"""Every page of _toc.yml, opened in Chromium at desktop width in the light theme, with no
network: it loads cleanly, its images and math render, it passes axe-core, and it stays light."""

from __future__ import annotations

import pytest

from browsing import open_tab, toc_html_pages

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()
MAX_PAGE_BYTES = 3_000_000


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


@pytest.mark.parametrize("path", PAGES)
def test_page_weight(page_report, path):
    report = page_report(path)
    assert report.own_bytes < MAX_PAGE_BYTES, (
        f"{path}: {report.own_bytes / 1e6:.2f} MB transferred (shared assets excluded), over "
        f"{MAX_PAGE_BYTES / 1e6:.0f} MB; largest files: {report.heaviest_files}")


def test_landing_page_renders_math_offline(browser, site):
    """index.html (a redirect) lands on the first page with typeset math and no other host."""
    with open_tab(browser, site) as tab:
        tab.goto("index.html")
        tab.page.wait_for_url("**/intro.html")
        tab.page.wait_for_load_state("load")
        tab.wait_for_math()
        assert tab.page.locator("mjx-container").count() > 0, "no math typeset on the landing page"
        assert not tab.problems(), "\n".join(tab.problems())
