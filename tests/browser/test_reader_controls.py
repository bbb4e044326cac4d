"""Every page at desktop width (1280 px) in the dark theme: search in view, nothing wider than its
column without a scroll cue, code lines of up to 100 characters do not scroll, quiz cards and
slider panels turn dark, no solution markers or notes about cells the site leaves out. And the
quizzes work with touch and keyboard, the phone's table-of-contents drawer closes after a tap on
a link, and search results quote prose (not the page's contents list or code)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from browsing import DESKTOP, PHONE, open_tab, toc_html_pages
from interactions import load_questions, numeric_outcome, numeric_submissions

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "sphinx"))
import site_fixes  # noqa: E402

pytestmark = pytest.mark.browser

PAGES = toc_html_pages()
CHAPTERS = [p for p in PAGES if p.startswith("chapters/")]


@pytest.mark.parametrize("path", PAGES)
def test_search_is_in_view_at_desktop_width(page_report, path):
    assert page_report(path).dark.theme == "dark", f"{path}: the site did not follow the dark setting"
    assert page_report(path).dark.checks["search"], (
        f"{path} at {DESKTOP['width']} px: no search control in view when the page opens")


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_wider_than_its_column_without_a_cue_at_desktop_width(page_report, path):
    report = page_report(path).dark
    assert not report.overflow, f"{path} at {DESKTOP['width']} px:\n" + "\n".join(report.overflow)
    assert not report.checks["unmarked"], (
        f"{path} at {DESKTOP['width']} px: boxes wider than their column with no scroll cue:\n"
        + "\n".join(report.checks["unmarked"]))


@pytest.mark.parametrize("path", PAGES)
def test_code_lines_of_100_characters_do_not_scroll_at_desktop_width(page_report, path):
    report = page_report(path).dark
    assert not report.checks["scrollingCode"], (
        f"{path} at {DESKTOP['width']} px:\n" + "\n".join(report.checks["scrollingCode"]))


@pytest.mark.parametrize("path", PAGES)
def test_quiz_cards_and_slider_panels_turn_dark_at_desktop_width(page_report, path):
    report = page_report(path).dark
    assert not report.checks["panels"], "\n".join(report.checks["panels"])


@pytest.mark.parametrize("path", PAGES)
def test_no_solution_markers_or_notes_on_hidden_cells(page_report, path):
    leaked = page_report(path).dark.checks["leaked"]
    assert not leaked, f"{path} shows text meant for the sources only: {leaked}"


# --------------------------------------------------------------------------- quizzes

def _quiz_page() -> str:
    """The first chapter whose quiz has a numeric and a choice question."""
    questions = load_questions()
    for path in CHAPTERS:
        stem = Path(path).stem
        kinds = {q["type"] for q in questions if q["_file"] == f"{stem}.json"}
        if "numeric" in kinds and kinds & {"multiple_choice", "many_choice"}:
            return path
    return CHAPTERS[0] if CHAPTERS else PAGES[0]


_NUMERIC_JS = r"""() => Array.from(document.querySelectorAll('.Quiz input.Input-text')).map(input => {
    const quiz = input.closest('.Quiz');
    const check = quiz.querySelector('button.QuizCheck');
    const box = input.getBoundingClientRect();
    const button = check ? check.getBoundingClientRect() : null;
    return {id: input.id, answers: JSON.parse(input.dataset.answers),
            inputmode: input.getAttribute('inputmode'),
            box: [box.width, box.height], check: button ? [button.width, button.height] : null};
})"""

_PASTE_JS = r"""(id) => {
    const input = document.getElementById(id);
    const data = new DataTransfer();
    data.setData('text/plain', '0.5');
    const event = new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true});
    input.dispatchEvent(event);
    return !event.defaultPrevented;
}"""

_FEEDBACK_JS = r"""(id) => { const fb = document.getElementById('fb' + id);
    return {cls: fb.className, text: fb.innerText.replace(/\s+/g, ' ').trim()}; }"""


def _question_for(answers, questions):
    return next((q for q in questions if q["type"] == "numeric" and q["answers"] == answers), None)


def test_quizzes_work_with_touch_and_keyboard(browser, site):
    path = _quiz_page()
    questions = load_questions()
    problems = []
    with open_tab(browser, site, viewport=PHONE, is_mobile=True, has_touch=True) as tab:
        tab.goto(path)
        tab.wait_for_math()
        page = tab.page
        numeric = page.evaluate(_NUMERIC_JS)
        assert numeric, f"{path}: no numeric question to try"
        for item in numeric:
            where = f"{path} {item['id']}"
            question = _question_for(item["answers"], questions)
            assert question is not None, f"{where}: not found in the quiz files"
            negative = any(min(a.get("range") or [a.get("value", 0)]) < 0 for a in question["answers"]
                           if "range" in a or "value" in a)
            expected = "text" if negative else "decimal"     # number pads have no minus sign
            assert item["inputmode"] == expected, (
                f"{where}: inputmode {item['inputmode']!r}, expected {expected!r}")
            assert item["check"], f"{where}: no Check button"
            for size, what in ((item["box"], "answer box"), (item["check"], "Check button")):
                assert min(size) >= 44 - 0.5, f"{where}: the {what} is {size} px, not 44 px"
            assert page.evaluate(_PASTE_JS, item["id"]), f"{where}: pasting is blocked"
            qid = item["id"].split("-")[0]
            box = page.locator(f"[id='{item['id']}']")
            check = page.locator(f"[id='quizWrap{qid}'] button.QuizCheck")
            box.fill("")
            check.click()
            assert "number" in page.evaluate(_FEEDBACK_JS, qid)["text"], (
                f"{where}: an empty box is graded instead of asking for a number")
            right, wrong = numeric_submissions(question)
            box.fill(repr(float(wrong)))
            check.click()
            box.focus()
            assert box.input_value() == repr(float(wrong)), f"{where}: focusing the box cleared it"
            correct, feedback = numeric_outcome(question, wrong)
            state = page.evaluate(_FEEDBACK_JS, qid)
            if ("correct" if correct else "incorrect") not in state["cls"].split():
                problems.append(f"{where}: Check on {wrong!r} gave {state}")
            box.fill(repr(float(right)))
            check.click()
            state = page.evaluate(_FEEDBACK_JS, qid)
            if "correct" not in state["cls"].split():
                problems.append(f"{where}: Check on {right!r} gave {state}")

        # choice questions: the arrow keys move the focus without answering; Space answers
        choice = page.locator(".Quiz .MultipleChoiceQn").first
        wrap = choice.locator("xpath=..")
        qid = (wrap.get_attribute("id") or "").replace("quizWrap", "")
        options = wrap.locator("label.MCButton > input")
        assert options.count() >= 2, f"{path}: no choice question to try"
        options.first.focus()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(100)
        state = page.evaluate(_FEEDBACK_JS, qid)
        assert not state["text"], f"{path}: moving through the options with arrows answered: {state}"
        focused = page.evaluate("() => document.activeElement.closest('label.MCButton').id")
        assert focused == f"{qid}-2", f"{path}: the arrows moved the focus to {focused}, not {qid}-2"
        page.keyboard.press("Space")
        assert page.evaluate(_FEEDBACK_JS, qid)["text"], f"{path}: Space did not choose the option"
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")
        answered = page.evaluate("(id) => document.getElementById(id).className", f"{qid}-1")
        assert "Button" in answered.replace("MCButton", ""), f"{path}: Enter did not choose the option"
        problems += tab.problems()
    assert not problems, "\n".join(problems)


def test_contents_drawer_closes_after_a_tap_on_a_link(browser, site):
    path = CHAPTERS[0] if CHAPTERS else PAGES[0]
    with open_tab(browser, site, viewport=PHONE, is_mobile=True, has_touch=True,
                  skip_scripts=("tex-chtml.js",)) as tab:
        tab.goto(path)
        for toggle, dialog in (("button.secondary-toggle", "#pst-secondary-sidebar-modal"),
                               ("button.primary-toggle", "#pst-primary-sidebar-modal")):
            tab.page.locator(f"{toggle}:visible").first.click()
            link = tab.page.locator(f"{dialog} a.nav-link[href*='#'], {dialog} a.reference.internal"
                                    "[href^='#']").nth(1)
            if dialog.endswith("primary-sidebar-modal") and link.count() == 0:
                link = tab.page.locator(f"{dialog} a.current[href]").first
            link.wait_for(state="visible", timeout=5000)
            link.tap()
            tab.page.wait_for_timeout(300)
            is_open = tab.page.evaluate(f"() => document.querySelector('{dialog}').open")
            assert not is_open, f"{path}: the {dialog} drawer stays open after a tap on a link"
            tab.goto(path)
        assert not tab.problems(), "\n".join(tab.problems())


# --------------------------------------------------------------------------- search

_SECTION_LIST = re.compile(r"\d+\.\d+\.\s+\S[^.]{0,80}?\d+\.\d+\.\s+\S")
_CODE = re.compile(r"\bimport \w|\bdef \w+\(|\bnp\.\w+\(|^>>>", re.M)


def test_search_results_quote_prose(browser, site):
    with open_tab(browser, site, viewport=DESKTOP, skip_scripts=("tex-chtml.js",)) as tab:
        # the search button in view at desktop width opens the search box
        tab.goto(CHAPTERS[-1] if CHAPTERS else PAGES[-1])
        tab.page.locator(".bd-header-article .search-button__button").click()
        assert tab.page.evaluate("() => document.getElementById('pst-search-dialog').open"), (
            "the header's search button does not open the search box")
        tab.goto("search.html?q=coupling")
        tab.page.locator("#search-results li p.context").first.wait_for(timeout=30000)
        tab.page.wait_for_timeout(1500)
        summaries = tab.page.locator("#search-results li p.context").all_inner_texts()
        problems = tab.problems()
    assert summaries, "no search results for 'coupling'"
    quoting = [s[:120] for s in summaries if _SECTION_LIST.search(s) or _CODE.search(s)]
    assert not quoting, "search results quote a contents list or code:\n" + "\n".join(quoting)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- build-time fixes

def test_solution_markers_are_cut_from_code():
    code = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    assert site_fixes.strip_solution_markers(code) == "def f(x):\n    return 2 * x\n"
    assert site_fixes.strip_solution_markers("x = 1  # BEGIN SOLUTION is a name\n") \
        == "x = 1  # BEGIN SOLUTION is a name\n"


def test_the_navigation_arrows_are_named_after_their_chapter():
    """The theme's arrow that unfolds a chapter's follow-up pages is a nameless <summary>."""
    nav = ('<a class="reference internal" href="chapters/05_glow.html">5. Glow &amp; more</a>'
           '<details open="open"><summary><span class="toctree-toggle" role="presentation">'
           '<i class="fa-solid fa-chevron-down"></i></span></summary><ul></ul></details>')
    named = site_fixes.name_toc_toggles(nav)
    assert '<summary aria-label="Pages of 5. Glow &amp; more">' in named
    assert named.replace(' aria-label="Pages of 5. Glow &amp; more"', "") == nav
    # on the chapter's own page its link is the current one
    current = nav.replace('class="reference internal" href="chapters/05_glow.html"',
                          'class="current reference internal" href="#"')
    assert '<summary aria-label="Pages of 5. Glow &amp; more">' in site_fixes.name_toc_toggles(current)


def test_the_note_before_a_live_widget_cell_is_left_out_with_it():
    from docutils import nodes

    section = nodes.section()
    note = nodes.paragraph(text="In Jupyter or Binder, the next cell gives a live slider.")
    cell = nodes.container(classes=["cell", "tag_remove-output"])
    cell += nodes.literal_block(text="import ipywidgets as widgets\n")
    after = nodes.paragraph(text="The slider above shows it.")
    section += [note, cell, after]
    assert site_fixes.widget_intro(cell) is note
    site_fixes._drop_widget_cells(None, section)
    assert [n.astext() for n in section.children] == ["The slider above shows it."]


def test_the_browsers_own_print_puts_each_answer_key_after_its_quiz(browser, site):
    """Printing from the browser (not only ``make pdf``): the site's print preparation, run on
    ``beforeprint``, moves every quiz's answer key from the page's end to right after its quiz."""
    chapter = CHAPTERS[0]
    with open_tab(browser, site, viewport=DESKTOP) as tab:
        tab.goto(chapter)
        tab.page.emulate_media(media="print")
        tab.page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        placement = tab.page.evaluate("""() => {
            const keys = Array.from(document.querySelectorAll('.reader-answer-key'));
            return keys.map(key => {
                const before = key.previousElementSibling;
                return Boolean(before && before.matches('div.cell')
                               && before.querySelector('.Quiz, [id^="quiz_"]'));
            });
        }""")
    assert placement, f"{chapter}: no answer key on the page"
    assert all(placement), f"{chapter}: an answer key does not follow its quiz: {placement}"
