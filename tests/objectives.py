"""Each learning objective of a chapter is exercised by a worked example, a practice problem, an
exercise or a quiz question: a chapter's test module lists that mapping, and ``check_mapping``
checks that it covers every objective and that every target exists.

A target is ``"label:<name>"`` (a MyST target ``(<name>)=`` or a ``:label: <name>`` on the
chapter page), ``"practice:<n>"`` (practice problem number n on the page), ``"exercise:<name>"``
(a ``:label:`` in the chapter's exercise notebook; for a follow-up page ``NNx_name``, in its
chapter's, ``exercises/NN_name.md``) or ``"quiz:<id>"`` (a question of its quiz).
"""

from __future__ import annotations

import json
import re

from book.toc import parent_chapter
from notebooks import ROOT

KINDS = ("label", "practice", "exercise", "quiz")


def objectives(text: str) -> list[str]:
    """The items of the page's "Learning objectives" section (numbered or bulleted)."""
    section = text.split("## Learning objectives", 1)[1].split("\n## ", 1)[0]
    section = section.split("```", 1)[0]
    return re.findall(r"^(?:\d+\.|-) (.+)$", section, re.MULTILINE)


def check_mapping(chapter: str, mapping: dict[int, list[str]]) -> None:
    """``chapter`` like ``chapters/01_change_of_variables.md``; ``mapping`` objective number
    (from 1) -> targets."""
    page = ROOT / chapter
    text = page.read_text(encoding="utf-8")
    stem = page.stem
    found = objectives(text)
    assert sorted(mapping) == list(range(1, len(found) + 1)), (
        f"{page.name} has {len(found)} objectives; the mapping covers {sorted(mapping)}")
    practice = text.split("## Practice problems", 1)[1].split("\n## ", 1)[0]
    exercise_page = ROOT / "exercises" / parent_chapter(page).name
    exercise_text = exercise_page.read_text(encoding="utf-8")
    quiz = json.loads((ROOT / "nflib" / "course" / "quizzes" / f"{stem}.json").read_text())
    questions = quiz["questions"] if isinstance(quiz, dict) else quiz
    quiz_ids = {q.get("id") for q in questions}
    for number, targets in mapping.items():
        assert targets, f"objective {number} of {page.name} has no target"
        for target in targets:
            kind, _, name = target.partition(":")
            assert kind in KINDS, target
            if kind == "label":
                assert f"({name})=" in text or f":label: {name}\n" in text, (
                    f"{page.name}: no target {name} for objective {number}")
            elif kind == "practice":
                assert re.search(rf"^{name}\. ", practice, re.MULTILINE) or (
                    f":label: {name}\n" in practice), (
                    f"{page.name}: no practice problem {name} for objective {number}")
            elif kind == "exercise":
                assert f":label: {name}\n" in exercise_text, (
                    f"exercises/{exercise_page.name}: no exercise {name} for objective {number}")
            else:
                assert name in quiz_ids, f"{stem}.json: no question {name} for objective {number}"
