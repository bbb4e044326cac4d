"""What every chapter in ``_toc.yml`` must be, checked the same way for all of them.

Each chapter: executes top to bottom on a fresh kernel (in the strict build), glues every number
its text shows (``{glue:text}`` and friends) under its own ``chN_`` prefix, follows the template's
sections in order, shows its own quiz, cross-references its exercises, gives every figure a text
alternative on the built page, and has a test module of its own that recomputes its numbers.
How long each chapter takes to execute is printed by ``benchmarks/build_time.py`` and checked
against its budget there (a timing assertion here would fail on a busy machine).

A follow-up page ``chapters/NNx_name.md`` (x a lower-case letter, e.g. ``05b_...``) continues
chapter NN when the chapter would outgrow its budget. It is listed in ``_toc.yml`` as a section of
chapter NN (so Sphinx numbers it NN.k and its figures "Fig. NN.n" after the chapter's own, and no
other chapter is renumbered) and is held to the same rules as a chapter, with its own names:
glue prefix ``chNx_`` (``ch5b_``), quiz ``nflib/course/quizzes/NNx_name.json`` with ids
``NNx-...``, test module ``tests/test_chapterNNx.py`` with ``CHAPTER = "chapters/NNx_name.md"``.
It has no exercise page of its own: its exercises are tasks in the chapter's page
``exercises/NN_name.md`` (labels ``ex-NN-...``, numbered "Exercise N.k" with the chapter's), and
it cross-references at least one of them. ``book.toc`` names the parts (``chapter_id``,
``chapter_number``, ``parent_chapter``).
"""

from __future__ import annotations

import re

import pytest

import book
from book.toc import chapter_id, chapter_number, is_follow_up, parent_chapter
from nflib.course.quiz import QUIZ_DIR
from notebooks import ROOT

CHAPTERS = book.chapters(ROOT)
IDS = [p.stem for p in CHAPTERS]

#: the template's sections, in order (the start of each level-2 heading; worked examples may also
#: be level-3 headings inside the content); the chapter's own content follows the objectives
TEMPLATE = ["Learning objectives", "Worked example", "Interactive figure", "Pitfalls",
            "Practice problems", "Quiz", "Key terms", "Summary", "References"]

_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)")
_GLUE_DIRECTIVE = re.compile(r"^```\{glue(?::\w+)?\}\s+([A-Za-z0-9_]+)", re.MULTILINE)


def _text(chapter) -> str:
    return chapter.read_text(encoding="utf-8")


def _prefix(chapter) -> str:
    """The glue prefix: ``ch5_`` for ``05_glow``, ``ch5b_`` for the follow-up page ``05b_...``."""
    return f"ch{chapter_number(chapter)}{chapter_id(chapter)[2:]}_"


def test_the_book_has_its_chapters():
    chapters = [p for p in CHAPTERS if not is_follow_up(p)]
    assert len(chapters) >= 3, [p.name for p in CHAPTERS]
    ids = [chapter_id(p) for p in CHAPTERS]
    assert ids == sorted(ids), f"chapters out of order in _toc.yml: {ids}"
    assert len(set(ids)) == len(ids), f"two pages share a chapter number: {ids}"
    numbers = [chapter_number(p) for p in chapters]
    assert len(set(numbers)) == len(numbers), f"two chapters share a number: {numbers}"


FOLLOW_UPS = [p for p in CHAPTERS if is_follow_up(p)]


def _toc_sections(items, found=None) -> dict:
    """``{file: [files of its sections]}`` for every entry of ``_toc.yml``."""
    found = {} if found is None else found
    for item in items or []:
        if "file" in item:
            found[item["file"]] = [s.get("file") for s in item.get("sections") or []]
        for key in ("sections", "chapters"):
            _toc_sections(item.get(key), found)
    return found


@pytest.mark.parametrize("page", FOLLOW_UPS, ids=[p.stem for p in FOLLOW_UPS])
def test_a_follow_up_page_is_a_section_of_its_chapter(page):
    """Listed under its chapter's ``sections`` in ``_toc.yml`` (numbered NN.k after the chapter's
    own sections; no other chapter renumbered), right after the chapter in reading order."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    sections = _toc_sections([c for part in toc.get("parts", []) for c in part["chapters"]])
    parent = parent_chapter(page)
    name = lambda p: p.relative_to(ROOT).with_suffix("").as_posix()   # noqa: E731
    assert name(page) in sections.get(name(parent), []), (
        f"_toc.yml must list {name(page)} under the sections of {name(parent)}")
    assert CHAPTERS.index(page) > CHAPTERS.index(parent)
    assert not (ROOT / "exercises" / page.name).exists(), (
        f"{page.name}: a follow-up page's exercises belong in exercises/{parent.name}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_follows_the_template_in_order(chapter):
    found_headings = re.findall(r"^(##|###) (.+)$", _text(chapter), re.MULTILINE)
    headings = [title for level, title in found_headings if level == "##"]
    assert headings and headings[0].startswith("Learning objectives"), (
        f"{chapter.name} must open with 'Learning objectives'; its sections are {headings}")
    position = 0
    for section in TEMPLATE:
        # worked examples may be a section of their own or sit inside the content they apply
        level = ("##", "###") if section == "Worked example" else ("##",)
        found = [sum(lv == "##" for lv, _ in found_headings[:i + 1]) - 1
                 for i, (lv, h) in enumerate(found_headings)
                 if lv in level and h.lower().startswith(section.lower())]
        assert found, f"{chapter.name} has no section '{section}...'; its sections are {headings}"
        assert found[0] >= position, (
            f"{chapter.name}: '{section}' comes before an earlier part of the template; "
            f"its sections are {headings}")
        position = found[0]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_shows_its_own_quiz(chapter):
    assert f'show_quiz("{chapter.stem}")' in _text(chapter), (
        f'{chapter.name} should show its quiz with show_quiz("{chapter.stem}")')
    assert (QUIZ_DIR / f"{chapter.stem}.json").is_file(), f"no quiz data for {chapter.name}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_cross_references_its_exercises(chapter):
    """A chapter references its own exercise page; a follow-up page its chapter's."""
    exercise = ROOT / "exercises" / parent_chapter(chapter).name
    assert exercise.is_file(), f"{chapter.name} has no exercise notebook {exercise.name}"
    labels = set(re.findall(r"^```\{exercise-start\}.*?\n:label: (\S+)", exercise.read_text(),
                            re.MULTILINE | re.DOTALL))
    referenced = set(re.findall(r"\{ref\}`(?:[^`<]*<)?(ex-[\w-]+)>?`", _text(chapter)))
    assert labels & referenced, (f"{chapter.name} references none of its exercises "
                                 f"{sorted(labels)}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_live_widget_cells_run_only_in_jupyter(chapter):
    """A cell that builds ipywidgets is for a reader's kernel: the build and the tests skip it
    (``skip-execution``; executing widget cells outside a front end can leave the executing
    client waiting forever) and the site shows the kernel-free figure instead."""
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(?:---\n(.*?)\n---\n)?(.*?)```", _text(chapter),
                       re.DOTALL)
    widget_cells = [(meta, code) for meta, code in cells if "import ipywidgets" in code]
    assert widget_cells, f"{chapter.name} has no live widget for Jupyter and Binder"
    for meta, _ in widget_cells:
        assert "skip-execution" in meta and "remove-output" in meta, (
            f"{chapter.name}: a widget cell must be tagged [remove-output, skip-execution]")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_has_a_test_module_that_recomputes_its_numbers(chapter):
    module = ROOT / "tests" / f"test_chapter{chapter_id(chapter)}.py"
    assert module.is_file(), f"no tests/{module.name} for {chapter.name}"
    assert f'CHAPTER = "chapters/{chapter.name}"' in module.read_text(encoding="utf-8")


#: notebook pages of the book that are not numbered chapters (the background page): not listed by
#: ``book.chapters``, so the template above does not apply, but their numbers are tested too
OTHER_NOTEBOOKS = [p for p in book.book_notebooks(ROOT)
                   if p not in CHAPTERS and p.parent.name not in ("chapters", "exercises")]


def test_pages_outside_the_chapters_are_not_counted_as_chapters():
    names = [p.name for p in OTHER_NOTEBOOKS]
    assert "background.md" in names, names
    assert all(p.parent == ROOT for p in OTHER_NOTEBOOKS), names
    assert not set(OTHER_NOTEBOOKS) & set(CHAPTERS)


@pytest.mark.parametrize("page", OTHER_NOTEBOOKS, ids=lambda p: p.stem)
def test_other_notebook_pages_have_a_test_module_that_recomputes_their_numbers(page):
    module = ROOT / "tests" / f"test_{page.stem}.py"
    assert module.is_file(), f"no tests/{module.name} for {page.name}"
    assert f'CHAPTER = "{page.name}"' in module.read_text(encoding="utf-8")


# ---- the chapter as executed: by the build, or alone with NB_EXECUTE=1 (conftest.executed_page) --

@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_glued_reference_is_glued_under_the_chapter_prefix(chapter, executed_page):
    text = _text(chapter)
    used = set(_GLUE_ROLE.findall(text)) | set(_GLUE_DIRECTIVE.findall(text))
    glued = set(executed_page(chapter.relative_to(ROOT)).glued)
    assert used, f"{chapter.name} glues no computed value into its text"
    assert not used - glued, (f"{chapter.name} refers to values it never glued: "
                              f"{sorted(used - glued)}")
    prefix = _prefix(chapter)
    assert all(name.startswith(prefix) for name in glued), (
        f"glue names in {chapter.name} must start with {prefix}: "
        f"{sorted(n for n in glued if not n.startswith(prefix))}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_no_cell_printed_an_error(chapter, executed_page):
    for index, cell in enumerate(executed_page(chapter.relative_to(ROOT)).cells):
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{chapter.name}: cell {index} failed"
            assert not (output.get("output_type") == "stream" and output.get("name") == "stderr"
                        and output.get("text", "").strip()), (
                f"{chapter.name}: cell {index} wrote to stderr: {output.get('text', '')[:300]}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_image_on_the_built_page_has_a_text_alternative(chapter, built_book):
    from bs4 import BeautifulSoup

    page = built_book.html / "chapters" / f"{chapter.stem}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article") or soup
    missing = []
    for img in article.find_all("img"):
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        if not (img.get("alt") or "").strip() and not (caption and caption.get_text(strip=True)):
            missing.append(img.get("src", "")[:80])
    assert not missing, f"{chapter.name}: images with neither alt text nor caption: {missing}"
