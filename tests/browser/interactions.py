"""What a reader does with the controls of a page, done in the browser and checked: quizzes give
the feedback their data prescribes, solutions and dropdowns open and close, animations move when
scrubbed or played. Each ``exercise_*`` function works on an open page and returns
``(errors, count)``: the problems found, as text, and how many controls it tried."""

from __future__ import annotations

import json
import re

from browsing import ROOT

# --------------------------------------------------------------------------- quiz data

def quiz_files() -> list:
    return sorted(p for p in ROOT.glob("nflib/course/quizzes/*.json") if p.name != "schema.json")


def load_questions() -> list[dict]:
    questions = []
    for path in quiz_files():
        for question in json.loads(path.read_text(encoding="utf-8")):
            questions.append(dict(question, _file=path.name))
    return questions


def _round_sig(x: float, digits) -> float:
    return float(f"{x:.{digits}g}") if digits else float(x)


def numeric_outcome(question: dict, submission: float):
    """(correct, feedback) that the quiz data prescribes for a typed number: answers are tried in
    order, values compared after rounding to ``precision`` significant digits, ranges half-open."""
    digits = question.get("precision")
    value = _round_sig(submission, digits)
    default = "Incorrect. Try again."
    for answer in question["answers"]:
        if "value" in answer:
            if value == _round_sig(answer["value"], digits):
                return answer["correct"], answer["feedback"]
        elif "range" in answer:
            low, high = answer["range"]
            if low <= value < high:
                return answer["correct"], answer["feedback"]
        elif answer.get("type") == "default":
            default = answer["feedback"]
    return False, default


def numeric_submissions(question: dict) -> tuple[float, float]:
    """A number the data marks right and one it marks wrong."""
    candidates = []
    for answer in question["answers"]:
        if "value" in answer:
            candidates.append(answer["value"])
        elif "range" in answer:
            low, high = answer["range"]
            candidates += [(low + high) / 2, low]
    candidates += [-12345.0, 98765.0, 0.0, 1.0]
    right = next((c for c in candidates if numeric_outcome(question, c)[0]), None)
    wrong = next((c for c in candidates if not numeric_outcome(question, c)[0]), None)
    assert right is not None and wrong is not None, f"{question['id']}: no right/wrong number"
    return right, wrong


def visible_fragments(feedback: str) -> list[str]:
    """Pieces of a feedback text that appear verbatim on the page (math and markup left out)."""
    text = re.sub(r"\$\$.*?\$\$|(?<!\\)\$.*?(?<!\\)\$", "\x00", feedback, flags=re.DOTALL)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)          # markdown links
    text = re.sub(r"<[^>]+>", "\x00", text).replace("\\$", "$")
    return [" ".join(piece.split()) for piece in text.split("\x00") if len(piece.strip()) >= 3]


# --------------------------------------------------------------------------- quiz tests

_QUIZ_JS = r"""() => Array.from(document.querySelectorAll('.Quiz')).map(wrap => {
    const labels = Array.from(wrap.querySelectorAll('label.MCButton'));
    const input = wrap.querySelector('input.Input-text');
    return {
        id: wrap.id.replace('quizWrap', ''),
        kind: input ? 'numeric' : 'choice',
        feedbacks: labels.map(l => l.dataset.feedback),
        answers: input ? JSON.parse(input.dataset.answers) : null,
    };
})"""


def _match_question(rendered: dict, questions: list[dict]) -> dict | None:
    for question in questions:
        if rendered["kind"] == "numeric" and question["type"] == "numeric":
            if rendered["answers"] == question["answers"]:
                return question
        elif rendered["kind"] == "choice" and question["type"] != "numeric":
            if sorted(rendered["feedbacks"]) == sorted(a["feedback"] for a in question["answers"]):
                return question
    return None


def _feedback_state(page, quiz_id: str) -> dict:
    return page.evaluate("""(id) => { const fb = document.getElementById('fb' + id);
        return {cls: fb.className, text: fb.innerText.replace(/\\s+/g, ' '),
                raw: /\\\\\\(|\\\\\\[|\\$/.test(fb.innerText),
                math: fb.querySelectorAll('mjx-container').length}; }""", quiz_id)


def _check_feedback(state: dict, correct: bool, feedback: str, where: str) -> list[str]:
    errors = []
    expected = "correct" if correct else "incorrect"
    if expected not in state["cls"].split():
        errors.append(f"{where}: feedback box is {state['cls']!r}, expected {expected!r}")
    for piece in visible_fragments(feedback):
        if piece not in state["text"]:
            errors.append(f"{where}: feedback shows {state['text'][:120]!r}, missing {piece!r}")
    if "$" in feedback.replace("\\$", "") and (state["raw"] or not state["math"]):
        errors.append(f"{where}: the math in the feedback was not typeset: {state['text'][:120]!r}")
    return errors


def _exercise_choice(page, rendered, question, where) -> list[str]:
    errors = []
    by_feedback = {a["feedback"]: a for a in question["answers"]}
    wrong = [a for a in question["answers"] if not a["correct"]]
    right = [a for a in question["answers"] if a["correct"]]
    for answer in (wrong[:1] + right[:1]):
        index = rendered["feedbacks"].index(answer["feedback"])
        label = page.locator(f"[id='{rendered['id']}-{index}']")
        label.click()
        state = _feedback_state(page, rendered["id"])
        errors += _check_feedback(state, by_feedback[answer["feedback"]]["correct"],
                                  answer["feedback"], f"{where}, choice {answer['answer']!r}")
    return errors


def _exercise_numeric(page, rendered, question, where) -> list[str]:
    errors = []
    right, wrong = numeric_submissions(question)
    box = page.locator(f"[id='{rendered['id']}-0']")
    check = page.locator(f"[id='quizWrap{rendered['id']}'] button.QuizCheck")
    if check.count() != 1:
        errors.append(f"{where}: no Check button beside the answer box")
    for number, submit in ((wrong, "Enter"), (right, "Check")):
        box.click()
        box.fill("")            # the box keeps what was typed: clear it for the next try
        box.press_sequentially(repr(float(number)))
        if submit == "Check" and check.count() == 1:
            check.click()
        else:
            box.press("Enter")
        correct, feedback = numeric_outcome(question, number)
        state = _feedback_state(page, rendered["id"])
        errors += _check_feedback(state, correct, feedback, f"{where}, typed {number!r}")
    return errors


def exercise_quizzes(page, path: str) -> tuple[list[str], int]:
    """Answer every quiz question of the page once wrongly and once rightly."""
    questions = load_questions()
    rendered = page.evaluate(_QUIZ_JS)
    errors = []
    for number, item in enumerate(rendered, 1):
        where = f"{path}, question {number}"
        question = _match_question(item, questions)
        if question is None:
            errors.append(f"{where}: not found in the quiz files {[p.name for p in quiz_files()]}")
            continue
        exercise = _exercise_numeric if item["kind"] == "numeric" else _exercise_choice
        errors += exercise(page, item, question, f"{where} ({question['id']})")
    return errors, len(rendered)


# --------------------------------------------------------------------------- dropdowns

# The disclosures of a page, at most PER_KIND of each kind (same element and classes: the folded
# code of a cell, a sphinx-design dropdown, an exercise's solution, ...): each kind is one
# mechanism, so a few of each show it works without clicking dozens of identical ones.
PER_KIND = 2

_DISCLOSURES_JS = r"""(perKind) => {
    const article = document.querySelector('article.bd-article') || document.querySelector('main');
    const pick = (elements, prefix) => {
        const seen = {};
        return elements.filter(el => {
            const kind = el.tagName + '.' + Array.from(el.classList).sort().join('.');
            seen[kind] = (seen[kind] || 0) + 1;
            return seen[kind] <= perKind;
        }).map((el, i) => { el.setAttribute('data-probe', prefix + i); return prefix + i; });
    };
    return {
        details: pick(Array.from(article.querySelectorAll('details')).filter(d => !d.closest('.Quiz')), 'details-'),
        toggles: pick(Array.from(article.querySelectorAll('.admonition.toggle, .admonition.dropdown')), 'toggle-'),
    };
}"""


def _content_visible(page, probe: str, kind: str) -> bool:
    return page.evaluate("""([probe, kind]) => {
        const el = document.querySelector(`[data-probe="${probe}"]`);
        const parts = kind === 'details'
            ? Array.from(el.children).filter(c => c.tagName !== 'SUMMARY')
            : Array.from(el.children).filter(c => !c.classList.contains('admonition-title'));
        const shown = parts.some(c => c.checkVisibility({visibilityProperty: true,
                                                         contentVisibilityAuto: true}));
        return kind === 'details' ? el.open && shown : shown;
    }""", [probe, kind])


def _summary_text(page, probe, handle_selector) -> str:
    return page.locator(f"[data-probe='{probe}'] > {handle_selector}").first.inner_text()[:60]


def exercise_disclosures(page, path: str) -> tuple[list[str], int]:
    """Open and close a few disclosures of every kind on the page."""
    errors, count = [], 0
    found = page.evaluate(_DISCLOSURES_JS, PER_KIND)
    for kind, probes, handle in (("details", found["details"], "summary"),
                                 ("toggle", found["toggles"], ".admonition-title")):
        for probe in probes:
            count += 1
            name = f"{path} {kind} {_summary_text(page, probe, handle)!r}"
            head = page.locator(f"[data-probe='{probe}'] > {handle}").first
            if _content_visible(page, probe, kind):
                errors.append(f"{name}: open before the reader asks")
            head.click()
            if not _content_visible(page, probe, kind):
                errors.append(f"{name}: does not open when clicked")
            head.click()
            page.wait_for_timeout(50)
            if _content_visible(page, probe, kind):
                errors.append(f"{name}: does not close when clicked again")
    return errors, count


# --------------------------------------------------------------------------- animations

def _frame(page, root) -> str:
    return root.locator("img[id^='_anim_img']").get_attribute("src") or ""


def _exercise_animation(page, root, where) -> list[str]:
    errors = []
    root.scroll_into_view_if_needed()
    slider = root.locator("input[id^='_anim_slider']")
    last = int(slider.get_attribute("max") or 0)
    if last < 1:
        return [f"{where}: only one frame, nothing to scrub"]
    first = _frame(page, root)
    slider.focus()
    page.keyboard.press("End")
    if _frame(page, root) == first:
        errors.append(f"{where}: moving the slider to the end does not change the picture")
    if slider.input_value() != str(last):
        errors.append(f"{where}: the slider did not move ({slider.input_value()} of {last})")

    def press(name):
        root.locator(f"button[aria-label='{name}']").click()

    press("First frame")
    if _frame(page, root) != first:
        errors.append(f"{where}: 'First frame' does not show the first picture")
    press("Next frame")
    if _frame(page, root) == first:
        errors.append(f"{where}: 'Next frame' does not change the picture")
    press("Last frame")
    end = _frame(page, root)
    press("Previous frame")
    if _frame(page, root) == end:
        errors.append(f"{where}: 'Previous frame' does not change the picture")
    press("First frame")
    press("Play")
    try:
        page.wait_for_function("([img, src]) => document.getElementById(img).src !== src",
                               arg=[root.locator("img[id^='_anim_img']").get_attribute("id"), first],
                               timeout=5000)
    except Exception:
        errors.append(f"{where}: 'Play' does not start the animation")
    press("Pause")
    paused = _frame(page, root)
    page.wait_for_timeout(600)
    if _frame(page, root) != paused:
        errors.append(f"{where}: 'Pause' does not stop the animation")
    return errors


def exercise_animations(page, path: str) -> tuple[list[str], int]:
    """Scrub and play every matplotlib animation of the page."""
    animations = page.locator("div.animation")
    errors = []
    for i in range(animations.count()):
        errors += _exercise_animation(page, animations.nth(i), f"{path} animation {i + 1}")
    return errors, animations.count()
