"""The answers of the quizzes, recomputed with nflib, keyed by question id.

``ANSWERS["<question id>"]`` is a function of no arguments returning the value the question's
correct answer must match: for a ``numeric`` question the exact value (the test checks that a
reader typing it, or typing it to 3 significant digits, is marked correct, and that no distractor
range catches it); for a choice question, the number written on its correct choice (a list of
numbers if several numeric choices are correct). tests/test_quizzes.py fails for a numeric
question, or a correct numeric choice, whose id has no entry here.

Each chapter registers its entries in its own module here, ``quiz_answers/chNN.py``
(imported below, in order):

    @answer("01-scale-density")
    def _():
        x, log_det = nf.Affine(1, log_scale=[np.log(10.0)]).forward(np.zeros((1, 1)))
        return float(np.exp(nf.StandardNormal(1).log_prob(np.zeros((1, 1)))[0] - log_det[0]))
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (used by the entries)

import nflib as nf  # noqa: F401

ANSWERS: dict = {}


def answer(question_id: str):
    """Register the decorated function as the recomputation of ``question_id``'s answer."""
    def register(fn):
        if question_id in ANSWERS:
            raise ValueError(f"two recomputations registered for quiz question {question_id}")
        ANSWERS[question_id] = fn
        return fn
    return register


def feedback(stem: str, question_id: str, start: str) -> str:
    """The feedback of the one choice of question ``question_id`` in quiz ``stem`` whose
    feedback starts with ``start`` (for tests that recompute the numbers a feedback states)."""
    import json

    from nflib.course.quiz import quiz_path

    questions = {q["id"]: q for q in json.loads(quiz_path(stem).read_text(encoding="utf-8"))}
    texts = [a["feedback"] for a in questions[question_id]["answers"]
             if a["feedback"].startswith(start)]
    assert len(texts) == 1, (question_id, start)
    return texts[0]


def _load_chapter_modules() -> None:
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")


_load_chapter_modules()
