"""Every glue role in the book's pages is well formed: ``{glue:text}`name:format``` with the
closing backtick in place. A role closed by a brace instead reads on until the next backtick,
swallowing text, and the page shows a warning instead of the number."""

from __future__ import annotations

import re

import pytest

import book
from notebooks import ROOT

PAGES = sorted([*ROOT.glob("chapters/*.md"), *ROOT.glob("exercises/*.md"), *ROOT.glob("*.md")])
_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]*)`")
_WELL_FORMED = re.compile(r"^[A-Za-z0-9_]+(?::[^\s{}`]*)?$")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_glue_roles_are_well_formed(page):
    text = page.read_text(encoding="utf-8")
    bad = [content for content in _ROLE.findall(text) if not _WELL_FORMED.match(content)]
    assert not bad, f"{page.name}: malformed glue roles (a brace instead of a backtick?): {bad}"


_FORMATTED = re.compile(r"\{glue(?::text)?\}`([A-Za-z0-9_]+):([^`]+)`")


BOOK_PAGES = [ROOT / f"{entry['file']}.md" for entry in book.toc_entries(ROOT)
              if (ROOT / f"{entry['file']}.md").is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("page", BOOK_PAGES, ids=[str(p.relative_to(ROOT)) for p in BOOK_PAGES])
def test_values_shown_with_a_number_format_were_glued_as_plain_numbers(page, built_book):
    """``{glue:text}`name:.3f``` formats the glued value's text: a numpy scalar's text is
    ``np.float64(0.5)``, which the format cannot read (the build warns and shows no number)."""
    formatted = dict(_FORMATTED.findall(page.read_text(encoding="utf-8")))
    if not formatted:
        return
    glued = book.glue_data(built_book.html, str(page.relative_to(ROOT).with_suffix("")))
    unreadable = []
    for name in formatted:
        if name not in glued:  # a missing name is another test's finding
            continue
        text = glued[name].get("data", {}).get("text/plain", "")
        try:
            float(text)
        except ValueError:
            unreadable.append(f"{name} = {text[:40]!r}")
    assert not unreadable, f"{page.name}: glue plain floats (float(x)) for: {unreadable}"
