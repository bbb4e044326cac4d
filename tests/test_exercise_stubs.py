"""Exercise pages show the learner's stub above the folded solution (tools/sphinx/exercise_stubs.py),
the same code the learner notebook gives."""

from __future__ import annotations

import re

import pytest

from exercise_stubs import learner_stub
from notebooks import ROOT, read_notebook

EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.md"))


def test_the_marked_solution_becomes_a_raise_at_its_indentation():
    code = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    # BEGIN SOLUTION\n    y = 2 * x\n    return y\n"
            "    # END SOLUTION\n\nf(1)\n")
    assert learner_stub(code) == "def f(x):\n    \"\"\"Doc.\"\"\"\n    raise NotImplementedError\n\nf(1)\n"


@pytest.mark.parametrize("exercise", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_the_site_stubs_are_the_learner_notebooks_code(exercise):
    marked = [c.source for c in read_notebook(exercise).cells
              if c.cell_type == "code" and "# BEGIN SOLUTION" in c.source]
    learner = [c.source.strip() for c in read_notebook(ROOT / "exercises" / "learner" / exercise.name).cells
               if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert marked, f"{exercise.name} has no marked solution code"
    assert [learner_stub(code).strip() for code in marked] == learner


@pytest.mark.slow
def test_every_exercise_page_shows_its_stubs_outside_the_folded_solutions(built_book):
    from bs4 import BeautifulSoup

    for exercise in EXERCISES:
        page = built_book.html / "exercises" / f"{exercise.stem}.html"
        article = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("article")
        stubs = [pre for pre in article.select("div.exercise-stub pre")
                 if "raise NotImplementedError" in pre.get_text()]
        folded = [pre for pre in stubs if pre.find_parent("div", class_="solution")]
        solutions = article.select("div.solution")
        assert stubs, f"{page.name} shows no stub raising NotImplementedError"
        assert not folded, f"{page.name}: a stub sits inside a folded solution"
        assert len(stubs) >= len([s for s in solutions if s.select("div.cell_input")]), page.name
        assert not re.search(r"# (BEGIN|END) SOLUTION", article.get_text()), page.name
