"""Every page on a phone (390 px wide) and in the dark theme: nothing spills off the screen,
figures keep an opaque background, text and controls keep their contrast; search is in view,
every box that scrolls sideways says so, controls are big enough to touch, quiz cards and slider
panels turn dark."""

from __future__ import annotations

import pytest

from browsing import PHONE, toc_html_pages

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()

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
