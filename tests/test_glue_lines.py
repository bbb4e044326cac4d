"""The site shows code cells without the lines that only glue numbers into the text
(tools/sphinx/glue_lines.py); the executed notebooks keep them."""

from __future__ import annotations

import re

import pytest

from glue_lines import strip_glue


def test_glue_calls_spanning_lines_and_their_comment_are_left_out():
    source = ("x = 1.5\n"
              "# the numbers in the text\n"
              "glue(\"ch1_x\", x,\n"
              "     display=False)\n"
              "y = 2 * x\n"
              "glue(\"ch1_y\", y, display=False)\n")
    assert strip_glue(source) == "x = 1.5\ny = 2 * x"


def test_a_loop_of_glue_calls_goes_and_a_loop_that_computes_stays():
    source = ("import numpy as np\nfrom myst_nb import glue\n"
              "for k in range(3):\n    glue(f\"ch1_{k}\", k, display=False)\n"
              "for k in range(3):\n    v = k * k\n    glue(f\"ch1_v{k}\", v, display=False)\n")
    assert strip_glue(source) == "import numpy as np\nfor k in range(3):\n    v = k * k"


def test_cells_without_glue_or_with_invalid_python_are_unchanged():
    assert strip_glue("a = 1  # glue later\nprint(a)\n") == "a = 1  # glue later\nprint(a)\n"
    assert strip_glue("%timeit f()\nglue('x', 1)") == "%timeit f()\nglue('x', 1)"


def test_a_cell_of_glue_calls_only_becomes_empty():
    assert strip_glue("# numbers for the text\nglue('ch1_a', 1, display=False)\n") == ""


@pytest.mark.slow
def test_no_code_on_the_built_pages_shows_a_glue_call(built_book):
    from bs4 import BeautifulSoup

    shown = []
    for page in sorted(built_book.html.glob("**/*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for block in soup.select("div.cell_input pre"):
            if re.search(r"\bglue\(", block.get_text()):
                shown.append(f"{page.relative_to(built_book.html)}: {block.get_text()[:80]!r}")
    assert not shown, "code cells on the site that show glue calls:\n" + "\n".join(shown[:20])
