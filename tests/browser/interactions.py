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
        check: wrap.querySelectorAll('button.QuizCheck').length === 1,
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


# Every answer of the page, given in one script: a choice is a click on its button (the same
# click event a mouse, a tap or the keyboard's space bar fires; test_reader_controls.py answers a
# page's quizzes with real touch and keys), a number is typed into the box and sent with the Enter
# key or the Check button. jupyterquiz typesets the feedback as it writes it, so the state is read
# right after each answer.
_ANSWER_JS = r"""(steps) => steps.map(step => {
    if (step.choice !== undefined) {
        document.getElementById(`${step.id}-${step.choice}`).click();
    } else {
        const box = document.getElementById(`${step.id}-0`);
        box.focus();
        box.value = step.number;
        if (step.submit === 'Check') {
            document.querySelector(`[id='quizWrap${step.id}'] button.QuizCheck`).click();
        } else {
            box.dispatchEvent(new KeyboardEvent('keypress', {key: 'Enter', code: 'Enter',
                keyCode: 13, which: 13, bubbles: true, cancelable: true}));
        }
    }
    const fb = document.getElementById('fb' + step.id);
    return {cls: fb.className, text: fb.innerText.replace(/\s+/g, ' '),
            raw: /\\\(|\\\[|\$/.test(fb.innerText),
            math: fb.querySelectorAll('mjx-container').length};
})"""


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


def _choice_steps(rendered, question, where) -> list[tuple[dict, bool, str, str]]:
    """A wrong answer, then a right one: (step, correct, feedback, where) each."""
    answers = [a for a in question["answers"] if not a["correct"]][:1]
    answers += [a for a in question["answers"] if a["correct"]][:1]
    return [({"id": rendered["id"], "choice": rendered["feedbacks"].index(a["feedback"])},
             a["correct"], a["feedback"], f"{where}, choice {a['answer']!r}") for a in answers]


def _numeric_steps(rendered, question, where) -> list[tuple[dict, bool, str, str]]:
    """A wrong number sent with Enter, then a right one with the Check button."""
    right, wrong = numeric_submissions(question)
    steps = []
    for number, submit in ((wrong, "Enter"), (right, "Check")):
        correct, feedback = numeric_outcome(question, number)
        steps.append(({"id": rendered["id"], "number": repr(float(number)), "submit": submit},
                      correct, feedback, f"{where}, typed {number!r} ({submit})"))
    return steps


def exercise_quizzes(page, path: str) -> tuple[list[str], int]:
    """Answer every quiz question of the page once wrongly and once rightly, and check each
    feedback against the question's data."""
    questions = load_questions()
    rendered = page.evaluate(_QUIZ_JS)
    errors, steps = [], []
    for number, item in enumerate(rendered, 1):
        where = f"{path}, question {number}"
        question = _match_question(item, questions)
        if question is None:
            errors.append(f"{where}: not found in the quiz files {[p.name for p in quiz_files()]}")
            continue
        if item["kind"] == "numeric" and not item["check"]:
            errors.append(f"{where}: no Check button beside the answer box")
            continue
        make = _numeric_steps if item["kind"] == "numeric" else _choice_steps
        steps += make(item, question, f"{where} ({question['id']})")
    states = page.evaluate(_ANSWER_JS, [step for step, *_ in steps]) if steps else []
    for state, (_, correct, feedback, where) in zip(states, steps):
        errors += _check_feedback(state, correct, feedback, where)
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


# Each chosen disclosure is clicked where a mouse would click it (the element on top at the
# middle of its summary or title, found by hit testing after scrolling it into view), open, then
# closed again; what shows is read once the page has drawn the click (a content-visibility:auto
# block counts as skipped until then), and 50 ms after the closing click (it may animate).
_OPEN_AND_CLOSE_JS = r"""async (probes) => {
    const visible = (el, kind) => {
        const parts = kind === 'details'
            ? Array.from(el.children).filter(c => c.tagName !== 'SUMMARY')
            : Array.from(el.children).filter(c => !c.classList.contains('admonition-title'));
        const shown = parts.some(c => c.checkVisibility({visibilityProperty: true,
                                                         contentVisibilityAuto: true}));
        return kind === 'details' ? el.open && shown : shown;
    };
    const click = head => {
        head.scrollIntoView({block: 'center'});
        const r = head.getBoundingClientRect();
        const target = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        (target && head.contains(target) ? target : head).click();
    };
    const drawn = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    const found = [];
    for (const [probe, kind] of probes) {
        const el = document.querySelector(`[data-probe="${probe}"]`);
        const head = el.querySelector(kind === 'details' ? ':scope > summary' : ':scope > .admonition-title');
        const before = visible(el, kind);
        click(head);
        await drawn();
        const opened = visible(el, kind);
        click(head);
        await new Promise(r => setTimeout(r, 50));
        found.push({name: head.innerText.slice(0, 60), before, opened, after: visible(el, kind)});
    }
    return found;
}"""


def exercise_disclosures(page, path: str) -> tuple[list[str], int]:
    """Open and close a few disclosures of every kind on the page."""
    found = page.evaluate(_DISCLOSURES_JS, PER_KIND)
    probes = ([[p, "details"] for p in found["details"]]
              + [[p, "toggle"] for p in found["toggles"]])
    errors = []
    for (_, kind), seen in zip(probes, page.evaluate(_OPEN_AND_CLOSE_JS, probes)):
        name = f"{path} {kind} {seen['name']!r}"
        if seen["before"]:
            errors.append(f"{name}: open before the reader asks")
        if not seen["opened"]:
            errors.append(f"{name}: does not open when clicked")
        if seen["after"]:
            errors.append(f"{name}: does not close when clicked again")
    return errors, len(probes)


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
