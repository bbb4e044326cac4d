"""Every glue role in the book's pages is well formed: ``{glue:text}`name:format``` with the
closing backtick in place. A role closed by a brace instead reads on until the next backtick,
swallowing text, and the page shows a warning instead of the number."""

from __future__ import annotations

import re

import pytest

from notebooks import ROOT

PAGES = sorted([*ROOT.glob("chapters/*.md"), *ROOT.glob("exercises/*.md"), *ROOT.glob("*.md")])
_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]*)`")
_WELL_FORMED = re.compile(r"^[A-Za-z0-9_]+(?::[^\s{}`]*)?$")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_glue_roles_are_well_formed(page):
    text = page.read_text(encoding="utf-8")
    bad = [content for content in _ROLE.findall(text) if not _WELL_FORMED.match(content)]
    assert not bad, f"{page.name}: malformed glue roles (a brace instead of a backtick?): {bad}"
