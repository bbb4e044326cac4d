"""Generate the learner version of every exercise notebook from its instructor version.

    python tools/make_learner.py          # write exercises/learner/<name>.md
    python tools/make_learner.py --check  # exit 1 if a learner file differs from what this makes

The instructor notebook ``exercises/<name>.md`` (MyST Markdown) is the single source. In the
learner version:

* in code cells, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become
  ``raise NotImplementedError`` (at the indentation of the BEGIN line);
* between the ``{solution-start}`` and ``{solution-end}`` directives only the code cells stay:
  the written solution is dropped, and so are the two directives;
* ``{exercise-start} Title`` becomes the heading ``## Exercise: Title`` and ``{exercise-end}``
  is dropped (sphinx-exercise renders them in the book; Jupyter would show them as code);
* lines between ``% book-only: start`` and ``% book-only: end`` are dropped;
* a short note on how to work is added under the title.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
LEARNER = EXERCISES / "learner"

NOTE = ("Complete each function where it raises `NotImplementedError`, run its cell, then run "
        "the check below it. A check names the property that fails (the shape, the round trip, "
        "the sign of the log-determinant, the normalisation, ...) or says that the function is "
        "not implemented yet.\n\n"
        "This notebook is generated from `exercises/{name}` by `tools/make_learner.py`; "
        "edit that file, not this one.")

_FENCE_OPEN = re.compile(r"^```\{([\w-]+)\}\s*(.*)$")
_BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")


def _blocks(lines):
    """Split MyST text into ("text", [lines]) and ("directive", name, argument, [lines])."""
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match:
            yield ("text", [lines[i]])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: directive {match.group(1)!r} is never closed")
        yield ("directive", match.group(1), match.group(2).strip(), lines[i:j + 1])
        i = j + 1


def stub_solutions(code_lines, where=""):
    """Replace each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region by a raise."""
    out, inside = [], False
    for number, line in enumerate(code_lines, 1):
        begin = _BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{where}: nested '# BEGIN SOLUTION' at code line {number}")
            inside = True
            out.append(f"{begin.group(1)}raise NotImplementedError")
        elif _END.match(line):
            if not inside:
                raise ValueError(f"{where}: '# END SOLUTION' without BEGIN at code line {number}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '# BEGIN SOLUTION' is never closed")
    return out


def learner_text(text: str, name: str) -> str:
    """The learner version of the instructor notebook ``text`` (file name ``name``)."""
    lines = text.splitlines()
    out, in_solution, book_only, titled = [], False, False, False
    for block in _blocks(lines):
        if block[0] == "text":
            line = block[1][0]
            if line.strip() == "% book-only: start":
                book_only = True
            elif line.strip() == "% book-only: end":
                book_only = False
            elif not (book_only or in_solution):
                out.append(line)
                if not titled and line.startswith("# "):
                    out += ["", *_note(name).split("\n")]
                    titled = True
            continue
        _, directive, argument, body = block
        if directive == "code-cell":
            out += body[:1] + stub_solutions(body[1:], f"{name}") if not book_only else []
        elif directive == "exercise-start":
            out.append(f"## Exercise: {argument}")
        elif directive == "solution-start":
            in_solution = True
        elif directive == "solution-end":
            in_solution = False
        elif directive == "exercise-end":
            pass
        elif not (book_only or in_solution):
            out += body
    if in_solution or book_only:
        raise ValueError(f"{name}: a solution-start or book-only block is never closed")
    return _squeeze_blank_lines(out)


def _note(name: str) -> str:
    paragraphs = NOTE.format(name=name).split("\n\n")
    return "\n\n".join(textwrap.fill(p, 99, break_on_hyphens=False) for p in paragraphs)


def _squeeze_blank_lines(lines) -> str:
    out = []
    for line in lines:
        if line.strip() == "" and (not out or out[-1].strip() == ""):
            continue
        out.append(line.rstrip())
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def instructor_notebooks():
    return sorted(EXERCISES.glob("*.md"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a learner file is missing or out of date")
    args = parser.parse_args(argv)
    stale = []
    for source in instructor_notebooks():
        target = LEARNER / source.name
        text = learner_text(source.read_text(encoding="utf-8"), source.name)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(target.relative_to(ROOT)))
        else:
            LEARNER.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (run python tools/make_learner.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
