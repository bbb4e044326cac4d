"""Number the exercises of an exercise page by its chapter: "Exercise 3.2", not "Exercise 10".

The chapters are numbered sections, so Sphinx numbers what they hold by chapter (Fig. 3.1,
Exercise 6.2). The exercise pages ``exercises/<stem>`` sit in an unnumbered part of the table of
contents, where Sphinx counts exercises across the whole book. This extension gives the
exercises of ``exercises/<stem>`` the number of the chapter ``chapters/<stem>`` (from its section
number, or the digits the stem starts with) and counts on after the exercises the chapter page
itself holds, so that every number names one exercise.

It only rewrites ``env.toc_fignumbers`` after Sphinx has assigned the numbers (the
``env-get-updated`` event, after Sphinx's own handler), so sphinx-exercise's titles, "Solution to
Exercise 3.2" and every ``{numref}`` read the new numbers, and so do the notebook downloads.
"""

from __future__ import annotations

import re

EXERCISES_FOLDER = "exercises"
CHAPTERS_FOLDER = "chapters"
FIGTYPE = "exercise"


def chapter_number(env, stem: str) -> int | None:
    """The number the site shows for ``chapters/<stem>``; else the digits the stem starts with."""
    number = env.toc_secnumbers.get(f"{CHAPTERS_FOLDER}/{stem}", {}).get("")
    if number:
        return int(number[0])
    match = re.match(r"(\d+)", stem)
    return int(match.group(1)) if match else None


def numbers_by_chapter(fignumbers: dict, secnumbers: dict) -> dict:
    """``{docname: {label: number}}`` of the exercise pages, renumbered by chapter.

    ``fignumbers`` is ``env.toc_fignumbers``; ``secnumbers`` maps a chapter's stem to its number.
    Only exercise pages counted book-wide (one-part numbers) are renumbered.
    """
    renumbered = {}
    for docname, kinds in fignumbers.items():
        folder, _, stem = docname.rpartition("/")
        exercises = kinds.get(FIGTYPE, {})
        if folder != EXERCISES_FOLDER or not exercises:
            continue
        if any(len(number) != 1 for number in exercises.values()):
            continue
        chapter = secnumbers.get(stem)
        if chapter is None:
            continue
        # after the exercises of the chapter page itself
        start = len(fignumbers.get(f"{CHAPTERS_FOLDER}/{stem}", {}).get(FIGTYPE, {}))
        order = sorted(exercises, key=lambda label: exercises[label])
        renumbered[docname] = {label: (chapter, start + k) for k, label in enumerate(order, 1)}
    return renumbered


def number_exercises_by_chapter(app, env) -> list[str]:
    stems = {docname.rpartition("/")[2] for docname in env.toc_fignumbers
             if docname.startswith(EXERCISES_FOLDER + "/")}
    secnumbers = {stem: chapter_number(env, stem) for stem in stems}
    secnumbers = {stem: number for stem, number in secnumbers.items() if number is not None}
    changed = numbers_by_chapter(env.toc_fignumbers, secnumbers)
    for docname, numbers in changed.items():
        env.toc_fignumbers[docname][FIGTYPE] = numbers
    return sorted(changed)


def setup(app):
    # after Sphinx's TocTreeCollector (priority 500) has assigned the book-wide numbers
    app.connect("env-get-updated", number_exercises_by_chapter, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
