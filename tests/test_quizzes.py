"""Every quiz is valid data, every choice explains itself, and every number in it is recomputed.

Quiz files are ``nflib/course/quizzes/<chapter-stem>.json`` (format: ``nflib/course/quiz.py``); the
recomputations live in ``tests/quiz_answers/chNN.py`` (``chNNx.py`` for a follow-up page
``NNx_name``, whose question ids start with ``NNx-``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from book.toc import CHAPTER_NAME, chapter_id
from nflib.course import quiz
from notebooks import ROOT
from quiz_answers import ANSWERS

QUIZ_DIR = quiz.QUIZ_DIR
SCHEMA = json.loads((QUIZ_DIR / "schema.json").read_text())
QUIZ_FILES = sorted(p for p in QUIZ_DIR.glob("*.json") if p.name != "schema.json")
#: the chapters and their follow-up pages (``05b_...``), each with a quiz of its own
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if CHAPTER_NAME.match(p.name))


def _questions(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _all_questions():
    return [(path, q) for path in QUIZ_FILES for q in _questions(path)]


def _ids(params):
    return [p.name if isinstance(p, Path) else str(p) for p in params]


# ---- the schema and the files ------------------------------------------------------------------

def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", QUIZ_FILES, ids=_ids(QUIZ_FILES))
def test_quiz_file_passes_every_rule(path):
    """The schema's structure and ``validate_quiz``'s rules (each written once, in those two)."""
    quiz.load_quiz(path)   # raises ValueError naming the question and the rule


@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_every_chapter_shows_its_own_quiz(chapter):
    text = chapter.read_text(encoding="utf-8")
    expected = f'show_quiz("{chapter.stem}")'
    assert expected in text, f"{chapter.name} should display its quiz with {expected}"
    assert (QUIZ_DIR / f"{chapter.stem}.json").exists(), f"no quiz file for {chapter.name}"


@pytest.mark.parametrize("path", QUIZ_FILES, ids=_ids(QUIZ_FILES))
def test_quiz_belongs_to_a_chapter_and_ids_carry_its_number(path):
    assert (ROOT / "chapters" / f"{path.stem}.md").exists(), f"{path.name} has no chapter"
    number = chapter_id(path)                       # "05", or "05b" for a follow-up page
    wrong = [q["id"] for q in _questions(path) if not q["id"].startswith(number + "-")]
    assert not wrong, f"ids in {path.name} must start with '{number}-': {wrong}"


def test_question_ids_are_unique_across_all_quizzes():
    seen = {}
    for path, q in _all_questions():
        assert q["id"] not in seen, f"id {q['id']} is used in {seen[q['id']]} and {path.name}"
        seen[q["id"]] = path.name


# ---- numbers are recomputed with nflib ---------------------------------------------------------

def _decimals_shown(text: str) -> float:
    """Half a unit in the last digit written on a choice: '0.693' -> 5e-4, '$2$' -> 0.5."""
    number = re.search(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text)
    mantissa, exponent = number.group(1), int(number.group(2)[1:]) if number.group(2) else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (exponent - decimals)


def _numeric_questions():
    return [(p, q) for p, q in _all_questions() if q["type"] == "numeric"]


def _numeric_choice_questions():
    return [(p, q) for p, q in _all_questions()
            if q["type"] != "numeric" and any(c for _, c in quiz.numeric_choices(q))]


def _qid(param):
    return param[1]["id"]


NUMERIC = _numeric_questions()
NUMERIC_CHOICE = _numeric_choice_questions()


@pytest.mark.parametrize("item", NUMERIC, ids=[_qid(p) for p in NUMERIC])
def test_numeric_answer_is_recomputed_and_accepted(item):
    _, q = item
    assert q["id"] in ANSWERS, (f"numeric question {q['id']} has no recomputation: add "
                                f"@answer({q['id']!r}) to tests/quiz_answers/chNN.py")
    value = float(ANSWERS[q["id"]]())
    correct, feedback = quiz.grade_numeric(q, value)
    assert correct, (f"{q['id']}: the recomputed answer {value!r} is graded wrong "
                     f"(feedback: {feedback!r})")
    rounded = float(f"{value:.3g}")
    correct, feedback = quiz.grade_numeric(q, rounded)
    assert correct, (f"{q['id']}: a reader typing {rounded} (3 significant digits of {value!r}) "
                     f"is graded wrong (feedback: {feedback!r}); widen the correct range")


@pytest.mark.parametrize("item", NUMERIC_CHOICE, ids=[_qid(p) for p in NUMERIC_CHOICE])
def test_numeric_choices_marked_correct_are_recomputed(item):
    _, q = item
    assert q["id"] in ANSWERS, (f"{q['id']} has a numeric choice marked correct but no "
                                f"recomputation: add @answer({q['id']!r}) to tests/quiz_answers/chNN.py")
    value = ANSWERS[q["id"]]()
    values = sorted(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    texts = [a["answer"] for a in q["answers"] if quiz.choice_number(a["answer"]) is not None]
    correct_texts = [a["answer"] for a in q["answers"] if a["correct"]
                     and quiz.choice_number(a["answer"]) is not None]
    shown = sorted(quiz.choice_number(t) for t in correct_texts)
    assert len(shown) == len(values), (f"{q['id']}: {len(shown)} numeric choices are marked "
                                       f"correct but the recomputation gives {values}")
    for (number, text), v in zip(sorted((quiz.choice_number(t), t) for t in correct_texts),
                                 values):
        assert abs(number - v) <= _decimals_shown(text) * (1 + 1e-9), \
            f"{q['id']}: the choice {text!r} is marked correct but nflib gives {v!r}"
    for text in texts:
        if text in correct_texts:
            continue
        number = quiz.choice_number(text)
        assert all(abs(number - v) > _decimals_shown(text) for v in values), \
            f"{q['id']}: the wrong choice {text!r} equals the recomputed answer"


def test_every_registered_recomputation_belongs_to_a_question():
    ids = {q["id"] for _, q in _all_questions()}
    orphans = sorted(set(ANSWERS) - ids)
    assert not orphans, f"tests/quiz_answers/ has entries for no question: {orphans}"


# ---- nflib.course.quiz itself -------------------------------------------------------------------------

def _good_quiz():
    return [
        {"id": "99-sign", "type": "multiple_choice", "question": "Which sign, $\\pm$?",
         "answers": [{"answer": "$-\\log|f'|$", "correct": True, "feedback": "Yes."},
                     {"answer": "$+\\log|f'|$", "correct": False, "feedback": "No: $f^{-1}$."}]},
        {"id": "99-value", "type": "numeric", "precision": 3, "question": "$p_X(0)$?",
         "answers": [{"type": "range", "range": [0.0995, 0.1005], "correct": True,
                      "feedback": "Right."},
                     {"type": "range", "range": [9.95, 10.05], "correct": False,
                      "feedback": "You multiplied by $|f'|$."},
                     {"type": "default", "feedback": "Divide by $|f'|$."}]},
    ]


def _break(mutation):
    questions = _good_quiz()
    mutation(questions)
    return questions


BROKEN = {
    "two correct answers in a multiple_choice": (
        lambda q: q[0]["answers"][1].update(correct=True), "99-sign", "exactly one correct"),
    "empty feedback": (
        lambda q: q[0]["answers"][1].update(feedback=" "), "99-sign", "feedback"),
    "missing feedback": (
        lambda q: q[1]["answers"][1].pop("feedback"), "99-value", "feedback"),
    "unmatched dollar": (
        lambda q: q[0].update(question="costs $5"), "99-sign", "unmatched '$'"),
    "less-than inside math": (
        lambda q: q[0].update(question="is $a<b$?"), "99-sign", "\\lt"),
    "duplicate id": (
        lambda q: q[1].update(id="99-sign"), "99-sign", "duplicate id"),
    "bad id": (
        lambda q: q[1].update(id="Value"), "Value", "does not match"),
    "unknown key": (
        lambda q: q[0].update(hint="x"), "99-sign", "hint"),
    "numeric without default": (
        lambda q: q[1]["answers"].pop(), "99-value", "default"),
    "empty range": (
        lambda q: q[1]["answers"][0].update(range=[1.0, 0.5]), "99-value", "empty range"),
    "no correct answer": (
        lambda q: q[1]["answers"][0].update(correct=False), "99-value", "correct"),
    "unknown type": (
        lambda q: q[0].update(type="string"), "99-sign", "type"),
    "one answer only": (
        lambda q: q[0]["answers"].pop(), "99-sign", "answers"),
    "blank question": (
        lambda q: q[0].update(question="  "), "99-sign", "question"),
    "range that is not a pair": (
        lambda q: q[1]["answers"][0].update(range=[1.0]), "99-value", "range"),
    "two defaults": (
        lambda q: q[1]["answers"].append({"type": "default", "feedback": "x"}), "99-value",
        "exactly one"),
    "many_choice with one correct answer": (
        lambda q: q[0].update(type="many_choice"), "99-sign", "at least two correct"),
}


def test_good_quiz_validates():
    quiz.validate_quiz(_good_quiz(), SCHEMA)
    quiz.validate_quiz(_good_quiz())   # the package's own schema by default


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_validation_names_the_question_and_the_problem(case):
    mutation, qid, phrase = BROKEN[case]
    with pytest.raises(ValueError) as err:
        quiz.validate_quiz(_break(mutation), SCHEMA)
    assert qid in str(err.value) and phrase in str(err.value), str(err.value)


def test_load_quiz_names_the_file(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    bad = tmp_path / "99_bad.json"
    bad.write_text(json.dumps(_break(BROKEN["duplicate id"][0])))
    with pytest.raises(ValueError, match="99_bad.json"):
        quiz.load_quiz(bad)
    bad.write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        quiz.load_quiz(bad)


def test_numbers_on_choices_are_recognised():
    assert quiz.choice_number("$0.5$") == 0.5
    assert quiz.choice_number(" -2 ") == -2.0
    assert quiz.choice_number("$1.5e-3$") == 1.5e-3
    assert quiz.choice_number("$\\log 2$") is None
    assert quiz.choice_number("2 samples") is None


def test_grading_follows_the_answer_order_and_the_precision():
    q = _good_quiz()[1]
    assert quiz.grade_numeric(q, 0.1) == (True, "Right.")
    assert quiz.grade_numeric(q, 0.10049) == (True, "Right.")       # rounds to 0.100
    assert quiz.grade_numeric(q, 10.0)[0] is False
    assert quiz.grade_numeric(q, 3.0) == (False, "Divide by $|f'|$.")
    q["answers"].insert(0, {"type": "range", "range": [0.0, 1.0], "correct": False,
                            "feedback": "Too wide."})
    assert quiz.grade_numeric(q, 0.1) == (False, "Too wide.")       # the first match decides


def test_display_embeds_the_questions_without_ids_or_network():
    html, js = quiz.quiz_html_and_js(_good_quiz(), "99_demo")
    assert html.startswith('<div id="quiz_99_demo"') and "</div><style>" in html
    prefix = "var questionsquiz_99_demo="
    start = js.index(prefix) + len(prefix)
    embedded = json.loads(js[start:js.index(";\n\nif (typeof Question", start)])
    assert embedded == [{k: v for k, v in q.items() if k != "id"} for q in _good_quiz()]
    assert "://" not in js and "://" not in html, "the quiz must not load anything over the network"
    assert "mj.startup.promise" in js                     # waits for the page's MathJax


def test_numeric_questions_work_with_touch_and_keyboard():
    """A Check button, the number keyboard, paste allowed, no clearing when the box is focused
    again; the arrow keys move between choices without answering (Space, Enter or a click do)."""
    import jupyterquiz

    _, js = quiz.quiz_html_and_js(_good_quiz(), "99_demo")
    original = (Path(jupyterquiz.__file__).parent / "js" / "numeric.js").read_text(encoding="utf-8")
    numeric = quiz._patch_numeric(original)
    assert numeric in js and original not in js
    assert 'check.className = "QuizCheck"' in numeric and 'check.textContent = "Check"' in numeric
    assert 'inp.setAttribute("inputmode", signed ? "text" : "decimal")' in numeric
    assert "onpaste" not in numeric
    assert 'this.value = ""' not in numeric
    assert "Type a number first." in numeric
    assert 'input.matches(".Quiz label.MCButton > input")' in js and "ArrowDown" in js
    assert "event.preventDefault();\n        input.click();" in js          # Enter chooses


def test_quiz_cards_have_a_dark_style_and_big_touch_targets():
    html, _ = quiz.quiz_html_and_js(_good_quiz(), "99_demo")
    for selector in ('html[data-theme="dark"] #quiz_99_demo .Quiz',
                     'body[data-jp-theme-light="false"] #quiz_99_demo .Quiz'):
        assert selector in html
    assert "#quiz_99_demo .Quiz label.MCButton { min-height: 44px" in html
    assert "#quiz_99_demo .Quiz .QuizCheck {" in html and "#QUIZ" not in html


def test_patching_a_changed_jupyterquiz_fails_loudly():
    with pytest.raises(RuntimeError, match="numeric.js"):
        quiz._patch_numeric("function check_numeric() {}")


def test_nflib_imports_without_jupyterquiz_or_ipython():
    code = ("import sys, nflib, nflib.course.quiz; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('jupyterquiz', 'IPython', 'jsonschema')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# ---- the grader agrees with jupyterquiz's own JavaScript ---------------------------------------

_NODE_HARNESS = r"""
const fs = require("fs");
const print = (text) => process.stdout.write(text + "\n");
console.log = () => {};                      // jupyterquiz logs as it grades
const [numericJs, helpersJs, casesJson] = process.argv.slice(2);
const fb = {style: {}, innerHTML: "", className: "", classList: {add() {}},
            dataset: {}, parentElement: {parentElement: {id: "outer"}}};
global.document = {getElementById: (id) => (id === "fbQ" ? fb : null)};
eval(fs.readFileSync(helpersJs, "utf8") + fs.readFileSync(numericJs, "utf8") +
     "; global.check_numeric = check_numeric;");
const results = [];
for (const c of JSON.parse(fs.readFileSync(casesJson, "utf8"))) {
  let cls = "";
  const input = {id: "Q-0", value: String(c.submission), blur() {}, closest: () => null,
                 dataset: {answers: JSON.stringify(c.question.answers)},
                 set className(v) { cls = v; }, get className() { return cls; },
                 classList: {add(v) { cls += " " + v; }}};
  if ("precision" in c.question) input.dataset.precision = c.question.precision;
  check_numeric(input, {keyCode: 13});
  results.push(cls.includes("correctButton") && !cls.includes("incorrectButton"));
}
print(JSON.stringify(results));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_python_grader_matches_jupyterquiz_javascript(tmp_path):
    import jupyterquiz

    js_dir = Path(jupyterquiz.__file__).parent / "js"
    questions = [q for _, q in _numeric_questions()] + [_good_quiz()[1]]
    cases = []
    for q in questions:
        points = [a["value"] for a in q["answers"] if "value" in a]
        for a in q["answers"]:
            if "range" in a:
                low, high = a["range"]
                points += [low, high, (low + high) / 2, low - 1e-3 * abs(high - low)]
        cases += [{"question": q, "submission": float(f"{p:.12g}")} for p in points]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "harness.js").write_text(_NODE_HARNESS)
    # the numeric.js the page runs: jupyterquiz's, with the changes for touch and keyboard
    (tmp_path / "numeric.js").write_text(
        quiz._patch_numeric((js_dir / "numeric.js").read_text(encoding="utf-8")))
    out = subprocess.run(["node", str(tmp_path / "harness.js"), str(tmp_path / "numeric.js"),
                          str(js_dir / "helpers.js"), str(tmp_path / "cases.json")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    page = json.loads(out.stdout)
    ours = [quiz.grade_numeric(c["question"], c["submission"])[0] for c in cases]
    mismatches = [(c["question"].get("id"), c["submission"], p, o)
                  for c, p, o in zip(cases, page, ours) if p != o]
    assert not mismatches, f"(id, typed, page says correct, nflib.course.quiz says correct): {mismatches}"


# ---- the built page ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("path", QUIZ_FILES, ids=_ids(QUIZ_FILES))
def test_built_chapter_page_embeds_its_quiz(path, built_book):
    page = built_book.html / "chapters" / f"{path.stem}.html"
    assert page.exists(), f"no built page {page}"
    text = page.read_text(encoding="utf-8")
    div_id = quiz._div_id(path.stem)
    assert f'<div id="{div_id}"' in text, f"{page.name} has no quiz container"
    prefix = f"var questions{div_id}="
    assert prefix in text, f"{page.name} does not embed the quiz's questions"
    start = text.index(prefix) + len(prefix)
    embedded = json.loads(text[start:text.index(";\n\nif (typeof Question", start)])
    assert len(embedded) == len(_questions(path))
    assert [q["question"] for q in embedded] == [q["question"] for q in _questions(path)]
