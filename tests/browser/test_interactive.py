"""Every control on the site does something: quizzes give the feedback of their data, solutions
and dropdowns open and close, animations move when the reader scrubs or presses a button.

The controls are worked during each page's desktop visit (``page_report`` in conftest.py); these
tests read what that visit found, page by page."""

from __future__ import annotations

import json
import re

import pytest

from browsing import toc_html_pages
from interactions import load_questions

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()


def _article(site, path: str) -> str:
    """The HTML of a built page's article (the theme's navigation left out)."""
    html = (site.root / path).read_text(encoding="utf-8")
    start, end = html.find("<article"), html.rfind("</article>")
    return html[start:end] if start >= 0 else html


CONTROLS = {"quizzes": ("data-shuffleanswers", "a quiz"),
            "disclosures": (r'<details|class="[^"]*\b(dropdown|toggle)\b', "a dropdown"),
            "animations": ("_anim_slider", "an animation")}


def _check(site, page_report, path: str, kind: str):
    """The page's controls of one kind, as its desktop visit worked them (one test per page, so
    each page is visited once, by the worker that has its other tests)."""
    marker, what = CONTROLS[kind]
    if not re.search(marker, _article(site, path)):
        pytest.skip(f"{path} has no {what.split()[-1]}")
    found, count = page_report(path).interactions[kind]
    assert count > 0, f"{path}: the page's HTML has {what} but none could be used"
    assert not found, "\n".join(found)


@pytest.mark.parametrize("kind", list(CONTROLS))
def test_the_book_has_every_kind_of_control(site, kind):
    marker, what = CONTROLS[kind]
    assert any(re.search(marker, _article(site, p)) for p in PAGES), f"no page has {what}"


@pytest.mark.parametrize("path", PAGES)
def test_quizzes_give_the_feedback_of_their_data(site, page_report, path):
    _check(site, page_report, path, "quizzes")


@pytest.mark.parametrize("path", PAGES)
def test_solutions_and_dropdowns_open_and_close(site, page_report, path):
    _check(site, page_report, path, "disclosures")


@pytest.mark.parametrize("path", PAGES)
def test_animations_respond_to_slider_and_buttons(site, page_report, path):
    _check(site, page_report, path, "animations")


@pytest.mark.parametrize("path", PAGES)
def test_controls_raise_no_errors(site, page_report, path):
    problems = page_report(path).interaction_problems
    assert not problems, f"using the controls of {path} gave:\n" + "\n".join(problems)


def test_every_quiz_file_is_shown_on_a_page(site):
    questions = load_questions()
    if not questions:
        pytest.skip("no quiz files yet")
    pages_text = "".join((site.root / p).read_text(encoding="utf-8") for p in PAGES)
    missing = [f"{q['_file']}: {q['id']}" for q in questions
               if json.dumps(q["question"])[1:-1] not in pages_text
               and q["question"] not in pages_text]
    assert not missing, f"quiz questions that no page of _toc.yml shows: {missing}"


def test_no_live_widget_is_left_dead_on_the_static_site(site):
    """ipywidgets need a kernel; the static site shows kernel-free figures instead."""
    dead = [p for p in PAGES
            if "application/vnd.jupyter.widget-view+json" in (site.root / p).read_text(encoding="utf-8")]
    assert not dead, f"pages with ipywidgets outputs, which do nothing without a kernel: {dead}"
