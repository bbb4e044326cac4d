"""Chapter quizzes: load, validate, grade and display a quiz stored as data.

Format (for chapter authors)
----------------------------
A chapter's quiz lives in ``nflib/course/quizzes/<chapter-stem>.json`` (it ships with the
package) and is shown from the chapter by a code cell tagged ``remove-input``::

    from nflib.course.quiz import show_quiz
    show_quiz("01_change_of_variables")

The file is a JSON list of questions in jupyterquiz's format plus a stable ``"id"``. The schema
is ``nflib/course/quizzes/schema.json``. Three kinds of question::

    {"id": "01-jacobian-sign", "type": "multiple_choice",          # exactly one correct choice
     "question": "For $x = f(z)$, what is $\\log p_X(x)$?",
     "answers": [
       {"answer": "$\\log p_Z(z) - \\log|f'(z)|$", "correct": true,
        "feedback": "Right: stretching space by $|f'|$ thins the density by $|f'|$."},
       {"answer": "$\\log p_Z(z) + \\log|f'(z)|$", "correct": false,
        "feedback": "That is the sign of $\\log|\\det \\partial f^{-1}/\\partial x|$ ..."}]}

    {"id": "01-flows-compose", "type": "many_choice", ...}          # two or more correct

    {"id": "01-scale-density", "type": "numeric", "precision": 3,
     "question": "...", "answers": [
       {"type": "range", "range": [0.0995, 0.1005], "correct": true, "feedback": "..."},
       {"type": "range", "range": [9.95, 10.05], "correct": false,
        "feedback": "You multiplied by $|f'|$ instead of dividing."},
       {"type": "default", "feedback": "Hint: ..."}]}

Rules. Each is written once: the structure in ``schema.json`` (the kinds, required and allowed
keys, non-empty text, at least two answers, at least one correct), the rest in
:func:`validate_quiz`; both name the question id in every error.

* ``id``: ``NN-words-with-dashes``, starting with the chapter number (``NNx-...`` for a follow-up
  page ``NNx_name`` such as ``05b_...``), unique across all quizzes.
* Every choice has ``answer``, ``correct`` and a non-empty ``feedback`` saying *why* it is right
  or wrong. ``multiple_choice`` has exactly one correct choice, ``many_choice`` at least two.
* Numeric answers are tried in order; the first ``value`` (exact, after rounding both sides to
  ``precision`` significant digits if given) or ``range`` (``low <= input < high``) that matches
  decides. Give a tolerance with a ``range``; list distractor ranges (a forgotten log-det, a
  wrong sign) with their own feedback; end with exactly one ``{"type": "default", ...}``.
* Math is ``$...$`` (inline) or ``$$...$$``; a literal dollar is ``\\$``. Text goes into the page
  as HTML: inside math write ``\\lt`` for ``<``. In JSON every backslash is doubled.
* Every numeric question, and every choice whose text is a number (``"$0.5$"``, ``"2"``) and is
  marked correct, must be recomputed with nflib by a function registered under the question id in
  ``tests/quiz_answers/chNN.py``: ``ANSWERS["01-scale-density"] = lambda: ...`` returning the value
  (a list of values for a ``many_choice`` with several numeric correct choices). The tests fail
  for a numeric question with no registered recomputation, or whose recomputed value a reader
  typing it to 3 significant digits would not have marked correct.

Display: the questions are embedded in the page as data, so the quiz works on the static site with
no kernel and no network. Math is typeset by the page's own MathJax once it has started.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["load_quiz", "validate_quiz", "choice_number", "grade_numeric", "numeric_choices",
           "quiz_html_and_js", "show_quiz"]

#: keys jupyterquiz reads; anything else (the ``id``) is dropped before display
_DISPLAY_KEYS = {"type", "question", "code", "answers", "answer_cols", "precision"}

# an unescaped dollar sign (jupyterquiz's own rule: a "$" not preceded by a backslash)
_DOLLAR = re.compile(r"(?<!\\)\$")
_NUMBER = re.compile(r"^\s*\$?\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*\$?\s*$")


def load_quiz(path) -> list:
    """Read a quiz file and validate it (:func:`validate_quiz`) against ``schema.json`` in the
    same folder, or the package's own schema if there is none.

    Raises ``ValueError`` naming the file, the question id and the problem.
    """
    path = Path(path)
    try:
        questions = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    schema_path = path.with_name("schema.json")
    schema = (json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.exists()
              else None)
    try:
        validate_quiz(questions, schema)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return questions


def validate_quiz(questions, schema: dict | None = None) -> None:
    """Check a list of questions; raise ``ValueError`` naming the question id and the problem.

    First the structure, with jsonschema against ``schema`` (the parsed ``schema.json``; by
    default the package's own); then the rules a schema cannot express: unique ids, the number of
    correct choices, exactly one ``default`` numeric answer, ranges with ``low < high``, balanced
    ``$`` signs and no ``<`` inside math.
    """
    _check_schema(questions, schema if schema is not None else packaged_schema())
    seen = set()
    for q in questions:
        if q["id"] in seen:
            raise ValueError(f"question {q['id']}: duplicate id")
        seen.add(q["id"])
        _check_question(q)


def packaged_schema() -> dict:
    """The quiz schema that ships with the package (``quizzes/schema.json``)."""
    return json.loads((QUIZ_DIR / "schema.json").read_text(encoding="utf-8"))


def _check_schema(questions, schema):
    """Validate with jsonschema, each question against its own kind's definition (clear errors)."""
    import jsonschema  # installed with nbformat; imported here so nflib needs numpy/scipy only

    top = jsonschema.Draft202012Validator(dict(schema, items={}))
    for err in top.iter_errors(questions):
        raise ValueError(f"quiz: {err.message}")
    for k, q in enumerate(questions):
        qid = q.get("id", f"<question {k}>") if isinstance(q, dict) else f"<question {k}>"
        kind = q.get("type") if isinstance(q, dict) else None
        ref = {"multiple_choice": "choice_question", "many_choice": "choice_question",
               "numeric": "numeric_question"}.get(kind)
        if ref is None:
            raise ValueError(f"question {qid}: 'type' must be multiple_choice, many_choice or "
                             f"numeric; got {kind!r}")
        sub = {key: v for key, v in schema.items() if key in ("$schema", "$defs")}
        sub["$ref"] = f"#/$defs/{ref}"
        errors = list(jsonschema.Draft202012Validator(sub).iter_errors(q))
        if errors:
            depth = max(len(e.absolute_path) for e in errors)  # the most specific place
            err = jsonschema.exceptions.best_match(
                [e for e in errors if len(e.absolute_path) == depth])
            while err.context:  # a oneOf over answer kinds: report the branch of this kind
                err = _matching_branch(err)
            field = "/".join(map(str, err.absolute_path)) or "question"
            message = ('no answer has "correct": true' if err.validator == "contains"
                       else "must be non-empty text" if err.validator_value == "\\S"
                       else err.message)
            raise ValueError(f"question {qid}: {field}: {message}")


def _matching_branch(err):
    """The most specific error of the oneOf branch whose ``type`` matches the instance."""
    branches = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [errs for errs in branches.values()
               if not any(e.validator == "const" and list(e.relative_path) == ["type"]
                          for e in errs)]
    if not fitting:  # no branch has this type: say which types exist
        kind = err.instance.get("type") if isinstance(err.instance, dict) else None
        err.message = f"'type' must be one of value, range, default; got {kind!r}"
        err.context = []
        return err
    return max(fitting[0], key=lambda e: len(e.absolute_path))


def _check_question(q: dict) -> None:
    """The rules of one question that the schema cannot express (its structure is valid)."""
    qid, kind, answers = q["id"], q["type"], q["answers"]
    _check_text(qid, "question", q["question"])
    for k, a in enumerate(answers):
        _check_text(qid, f"answer {k} feedback", a["feedback"])
        if "answer" in a:
            _check_text(qid, f"answer {k}", a["answer"])
    n_correct = sum(a.get("correct") is True for a in answers)
    if kind == "multiple_choice" and n_correct != 1:
        raise ValueError(f"question {qid}: a multiple_choice question needs exactly one correct "
                         f"answer; found {n_correct} (use many_choice for several)")
    if kind == "many_choice" and n_correct < 2:
        raise ValueError(f"question {qid}: a many_choice question needs at least two correct "
                         f"answers; found {n_correct} (use multiple_choice for one)")
    if kind == "numeric":
        _check_numeric(qid, answers)


def _check_numeric(qid, answers):
    n_default = sum(a.get("type") == "default" for a in answers)
    if n_default != 1:
        raise ValueError(f"question {qid}: a numeric question needs exactly one "
                         f"{{'type': 'default', 'feedback': ...}} answer; found {n_default}")
    for k, a in enumerate(answers):
        if a.get("type") == "range":
            bounds = a["range"]
            if not bounds[0] < bounds[1]:
                raise ValueError(f"question {qid}: answer {k} has an empty range {bounds} "
                                 "(need [low, high] with low < high)")


def _check_text(qid, where, text):
    if "</script" in text.lower():
        raise ValueError(f"question {qid}: {where} must not contain '</script'")
    pieces = _DOLLAR.split(text.replace("$$", "$"))
    if len(pieces) % 2 == 0:
        raise ValueError(f"question {qid}: {where} has an unmatched '$' "
                         f"(write a literal dollar as '\\$'): {text!r}")
    for math in pieces[1::2]:
        if "<" in math:
            raise ValueError(f"question {qid}: {where} has '<' inside math, which the page "
                             f"reads as an HTML tag; write \\lt instead: {text!r}")


def choice_number(text: str):
    """The number a choice stands for (``"$0.5$"``, ``"2"``, ``"-1e-3"``), else None."""
    m = _NUMBER.match(text)
    return float(m.group(1)) if m else None


def numeric_choices(question: dict) -> list:
    """``[(value, correct)]`` for the choices of a choice question whose text is a number."""
    out = []
    for a in question.get("answers", []):
        v = choice_number(a.get("answer", "")) if question.get("type") != "numeric" else None
        if v is not None:
            out.append((v, bool(a.get("correct"))))
    return out


def _round_sig(x: float, digits: int) -> float:
    return float(f"{float(x):.{int(digits)}g}")


def grade_numeric(question: dict, submission: float):
    """How the page grades a typed number: ``(correct, feedback)``.

    The same rule as jupyterquiz's: round to ``precision`` significant digits if given, then the
    first answer whose ``value`` equals it or whose ``range`` holds it (``low <= x < high``)
    decides; otherwise the ``default`` feedback and not correct.
    """
    if question.get("type") != "numeric":
        raise ValueError(f"question {question.get('id')}: grade_numeric needs a numeric question")
    precision = question.get("precision")
    x = _round_sig(submission, precision) if precision else float(submission)
    default = "Incorrect. Try again."
    for a in question["answers"]:
        if "value" in a:
            value = _round_sig(a["value"], precision) if precision else float(a["value"])
            if x == value:
                return bool(a["correct"]), a.get("feedback", "Correct")
        elif "range" in a:
            if a["range"][0] <= x < a["range"][1]:
                return bool(a["correct"]), a["feedback"]
        elif a.get("type") == "default":
            default = a.get("feedback", default)
    return False, default


# ---- display -----------------------------------------------------------------------------

# Run jupyterquiz's script once the page and its MathJax are ready. ``MathJax`` is shadowed by the
# loaded library (or undefined) so jupyterquiz never reads a bare configuration object, and its
# fallback that would fetch MathJax from a CDN is disabled: the site serves its own MathJax.
_WRAPPER = """(function () {
  // Choosing an option takes a click, a tap, Space or Enter. The arrow keys only move the focus
  // between the options (in a radio group they would also select, and so answer, each option
  // the focus passes). One listener per page serves every quiz, rendered now or later.
  if (!window.nflibQuizKeys) {
    window.nflibQuizKeys = true;
    document.addEventListener("keydown", function (event) {
      var input = event.target;
      if (!input || !input.matches || !input.matches(".Quiz label.MCButton > input")) { return; }
      var step = {ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1}[event.key];
      if (step) {
        event.preventDefault();
        var options = Array.prototype.slice.call(
          input.closest(".Answer").querySelectorAll("label.MCButton > input"));
        var next = options[(options.indexOf(input) + step + options.length) %% options.length];
        if (next) { next.focus(); }
      } else if (event.key === "Enter") {
        event.preventDefault();
        input.click();
      }
    }, true);
  }
  function nameInputs() {
    // Screen readers need a name for every control: a choice whose text is only math has none
    // once MathJax hides the TeX, and the numeric box is not tied to its visible prompt.
    var quiz = document.getElementById("%s");
    if (!quiz) { return; }
    var counts = {};
    quiz.querySelectorAll("label.MCButton").forEach(function (label) {
      var input = label.querySelector("input");
      var span = label.querySelector("span");
      var text = span ? span.textContent.replace(/\\$/g, "").trim() : "";
      if (input && !input.hasAttribute("aria-label")) {
        counts[input.name] = (counts[input.name] || 0) + 1;
        input.setAttribute("aria-label", "Option " + counts[input.name] + (text ? ": " + text : ""));
      }
    });
    quiz.querySelectorAll("input.Input-text").forEach(function (input) {
      if (!input.hasAttribute("aria-label")) { input.setAttribute("aria-label", "Numeric answer"); }
    });
  }
  function runQuiz() {
    var MathJax = (window.MathJax && window.MathJax.version) ? window.MathJax : undefined;
%s
    nameInputs();
  }
  function start() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(runQuiz, runQuiz); }
    else { runQuiz(); }
  }
  if (document.readyState === "complete") { start(); }
  else { window.addEventListener("load", start); }
})();
"""
_CDN_LINE = "script.src = 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js';"


def _div_id(name: str) -> str:
    """A valid JavaScript identifier (jupyterquiz uses the div id as a variable name)."""
    return "quiz_" + re.sub(r"\W", "_", name)


def quiz_html_and_js(questions: list, name: str = "quiz", shuffle_answers: bool = True):
    """The HTML (container and styles) and the JavaScript (questions embedded as data) of a quiz.

    Uses jupyterquiz's own renderer; the container ``<div>`` is closed so the page's layout is not
    disturbed, the question ids are dropped, and the script waits for the page's MathJax.
    """
    from jupyterquiz.dynamic.loader import load_questions_script
    from jupyterquiz.dynamic.renderer import build_script, build_styles, render_div

    div_id = _div_id(name)
    data = [{k: v for k, v in q.items() if k in _DISPLAY_KEYS} for q in questions]
    prefix, static, url = load_questions_script(data, div_id)
    html = render_div(div_id, False, shuffle_answers, False, 1_000_000, 700, 10, "left")
    html += "</div>" + build_styles(div_id, _COLORS).replace(
        "</style>", _CARD_CSS.replace("#QUIZ", "#" + div_id) + "</style>")
    script = build_script(prefix, static, url, div_id, True)
    if script.count(_CDN_LINE) != 2:
        raise RuntimeError("jupyterquiz's MathJax fallback changed; update nflib.course.quiz")
    script = script.replace(_CDN_LINE, "return;")
    return html, _WRAPPER % (div_id, _patch_numeric(script))


# jupyterquiz's numeric questions, changed so they work with touch and keyboard: a Check button
# beside the box (Enter still checks), the phone's number keyboard (the full keyboard when an
# answer is negative: number pads have no minus sign), no clearing of the typed
# answer when the box takes focus again, pasting allowed, a decimal comma read as a point, and
# an empty box asks for a number instead of being graded as 0. Each piece must be found exactly
# once in jupyterquiz's numeric.js, so a new jupyterquiz that changes it fails loudly.
_NUMERIC_PATCHES = [
    ('    if (event.keyCode === 13) {\n        ths.blur();',
     '    if (event.keyCode === 13 && ths.value.trim() === "") {\n'
     '        var ask = document.getElementById("fb" + ths.id.split("-")[0]);\n'
     '        ask.innerHTML = "Type a number first.";\n'
     '        ask.className = "Feedback";\n'
     '        ask.style.display = "block";\n'
     '        return false;\n'
     '    }\n'
     '    if (event.keyCode === 13) {\n        ths.blur();'),
    ("var submission = ths.value;",
     'var submission = ths.value.trim().replace(",", ".");'),
    ('lab.innerHTML = "Type numeric answer here:";',
     'lab.innerHTML = "Your answer (a number; 1/3 works):";\n'
     '    lab.htmlFor = id + "-0";'),
    ("inp.onpaste = event => false;",
     '// the number keyboard, unless an answer is negative: a phone\'s number pad has no minus\n'
     '    var signed = qa.answers.some(function (a) {\n'
     '        return (a.range || [a.value]).some(function (v) { return v < 0; }); });\n'
     '    inp.setAttribute("inputmode", signed ? "text" : "decimal");\n'
     '    inp.setAttribute("autocomplete", "off");\n'
     '    inp.setAttribute("enterkeyhint", "done");\n'
     '    var check = document.createElement("button");\n'
     '    check.type = "button";\n'
     '    check.className = "QuizCheck";\n'
     '    check.textContent = "Check";\n'
     '    check.addEventListener("click", function () { check_numeric(inp, {keyCode: 13}); });\n'
     '    aDiv.append(check);'),
    ('        this.value = "";\n', ""),
]


def _patch_numeric(script: str) -> str:
    from importlib.resources import files

    original = files("jupyterquiz").joinpath("js", "numeric.js").read_text(encoding="utf-8")
    if script.count(original) != 1:
        raise RuntimeError("jupyterquiz's numeric.js is not in its script; update nflib.course.quiz")
    patched = original
    for old, new in _NUMERIC_PATCHES:
        if patched.count(old) != 1:
            raise RuntimeError(f"jupyterquiz's numeric.js changed ({old!r}); "
                               "update nflib.course.quiz")
        patched = patched.replace(old, new)
    return script.replace(original, patched)


# jupyterquiz's default palette, changed where text had less than 4.5:1 contrast (WCAG AA):
# many-choice background, numeric input, feedback green. Each question sits on a card: light on
# a light page, dark on the site's dark theme (html[data-theme=dark]) and in JupyterLab's dark
# themes (body[data-jp-theme-light=false]), with the choices, the feedback and the input label
# at 4.5:1 or more on it. Choices, the answer box and its Check button are at least 44 px tall
# (touch targets); a choice that has the keyboard focus is outlined.
_CARD_CSS = """
#QUIZ .Quiz { background: #fafafa; color: #101010; padding: 4px 8px 8px; --reader-cover: #fafafa; }
#QUIZ .Quiz label.MCButton { min-height: 44px; box-sizing: border-box; }
#QUIZ .Quiz label.MCButton:focus-within { outline: 3px solid #1a5fb4; outline-offset: 2px; }
#QUIZ .Quiz .Input-text { display: inline-block; vertical-align: middle; min-height: 44px;
  box-sizing: border-box; margin: 10px 8px 10px 0; }
#QUIZ .Quiz .InpLabel { float: none; display: block; line-height: 1.4; margin: 6px 0 0; }
#QUIZ .Quiz .QuizCheck { display: inline-block; vertical-align: middle; min-height: 44px;
  min-width: 5.5em; margin: 10px 0; padding: 6px 16px; font: inherit; font-size: 18px;
  color: #101010; background: #fafafa; border: 2px solid #392061; border-radius: 0.3rem;
  cursor: pointer; }
#QUIZ .Quiz .QuizCheck:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
html[data-theme="dark"] #QUIZ .Quiz, body[data-jp-theme-light="false"] #QUIZ .Quiz {
  background: #23272e; color: #eceff4; --reader-cover: #23272e; }
html[data-theme="dark"] #QUIZ .Quiz label.MCButton,
body[data-jp-theme-light="false"] #QUIZ .Quiz label.MCButton {
  background: #2f353e; color: #eceff4; border-color: #6b7585; }
html[data-theme="dark"] #QUIZ .Quiz label.MCButton.correctButton,
html[data-theme="dark"] #QUIZ .Quiz label.MCButton.incorrectButton,
body[data-jp-theme-light="false"] #QUIZ .Quiz label.MCButton.correctButton,
body[data-jp-theme-light="false"] #QUIZ .Quiz label.MCButton.incorrectButton { color: #ffffff; }
html[data-theme="dark"] #QUIZ .Quiz .InpLabel,
body[data-jp-theme-light="false"] #QUIZ .Quiz .InpLabel { color: #eceff4; }
html[data-theme="dark"] #QUIZ .Quiz .Feedback.correct,
body[data-jp-theme-light="false"] #QUIZ .Quiz .Feedback.correct { color: #7fdc8f; }
html[data-theme="dark"] #QUIZ .Quiz .Feedback.incorrect,
body[data-jp-theme-light="false"] #QUIZ .Quiz .Feedback.incorrect { color: #ff9b9b; }
html[data-theme="dark"] #QUIZ .Quiz .QuizCheck,
body[data-jp-theme-light="false"] #QUIZ .Quiz .QuizCheck {
  background: #2f353e; color: #eceff4; border-color: #b9a3e6; }
html[data-theme="dark"] #QUIZ .Quiz label.MCButton:focus-within,
html[data-theme="dark"] #QUIZ .Quiz .QuizCheck:focus-visible,
body[data-jp-theme-light="false"] #QUIZ .Quiz label.MCButton:focus-within {
  outline-color: #8cb4ff; }
html[data-theme="dark"] #QUIZ .Quiz code, body[data-jp-theme-light="false"] #QUIZ .Quiz code {
  background-color: #3b424d; color: #eceff4; }
"""
_COLORS = {
    "--jq-multiple-choice-bg": "#392061",
    "--jq-mc-button-bg": "#fafafa",
    "--jq-mc-button-border": "#e0e0e0e0",
    "--jq-mc-button-inset-shadow": "#555555",
    "--jq-many-choice-bg": "#8a3b00",
    "--jq-numeric-bg": "#392061",
    "--jq-numeric-input-bg": "#392061",
    "--jq-numeric-input-label": "#101010",
    "--jq-numeric-input-shadow": "#999999",
    "--jq-string-bg": "#4c1a57",
    "--jq-incorrect-color": "#c80202",
    "--jq-correct-color": "#00750f",
    "--jq-text-color": "#fafafa",
    "--jq-link-color": "#9abafa",
}


#: the folder inside the package that holds every chapter's quiz and the schema
QUIZ_DIR = Path(__file__).with_name("quizzes")


def quiz_path(stem: str) -> Path:
    """The quiz file of a chapter, ``nflib/course/quizzes/<stem>.json``, shipped in the package."""
    path = QUIZ_DIR / f"{stem}.json"
    if not path.is_file():
        known = sorted(p.stem for p in QUIZ_DIR.glob("*.json") if p.stem != "schema")
        raise ValueError(f"no quiz named {stem!r}; the quizzes are {known}")
    return path


def show_quiz(stem: str, shuffle_answers: bool = True) -> None:
    """Load, validate and display the quiz of chapter ``stem`` (e.g. ``"01_change_of_variables"``).

    The quiz data ships inside the package, so a downloaded notebook shows its quiz from any folder.
    """
    from IPython.display import HTML, Javascript, display

    questions = load_quiz(quiz_path(stem))
    html, js = quiz_html_and_js(questions, stem, shuffle_answers)
    display(HTML(html))
    display(Javascript(js))
