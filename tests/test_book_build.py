"""The book builds strictly (warnings are errors, every notebook executed afresh) and the
built site is self-contained."""

from __future__ import annotations

import re

import pytest

from notebooks import ROOT, toc_pages

pytestmark = pytest.mark.slow


def _is_kernel_notice(line: str) -> bool:
    """The IPython kernel's own start-up notice on stderr (about its local TCP transport) is
    printed while notebooks execute; it is not a Sphinx warning about the book."""
    return "[IPKernelApp]" in line and "Kernel is running over TCP" in line


def test_strict_build_succeeds_without_warnings(built_book):
    if not built_book.log:
        pytest.skip("testing an existing build (BOOK_HTML); its log is not available")
    assert built_book.returncode == 0, f"jupyter-book build failed:\n{built_book.log[-6000:]}"
    warnings = [line for line in built_book.log.splitlines()
                if re.search(r"\bWARNING\b|\bERROR\b", line) and not _is_kernel_notice(line)]
    assert not warnings, "the strict build printed warnings:\n" + "\n".join(warnings)


def test_every_toc_page_is_built(built_book):
    for source in toc_pages():
        page = built_book.html / source.relative_to(ROOT).with_suffix(".html")
        if source.stem == "intro":
            page = built_book.html / "intro.html"
        assert page.exists(), f"{source.relative_to(ROOT)} has no built page {page.name}"


def test_site_references_no_other_host(built_book):
    """No page loads a script, stylesheet, font or image from another host."""
    external = re.compile(
        r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["'](?:https?:)?//""",
        re.IGNORECASE)
    offenders = {}
    for page in built_book.html.rglob("*.html"):
        hits = external.findall(page.read_text(errors="replace"))
        if hits:
            offenders[str(page.relative_to(built_book.html))] = hits[:3]
    assert not offenders, f"pages that load resources from other hosts: {offenders}"


def test_mathjax_is_served_by_the_site(built_book):
    index = (built_book.html / "intro.html").read_text()
    match = re.search(r'<script[^>]+src="([^"]*tex-chtml\.js)(?:\?[^"]*)?"', index)
    assert match, "intro.html does not load MathJax's tex-chtml.js"
    assert not match.group(1).startswith(("http:", "https:", "//"))
    assert (built_book.html / "_static" / "vendor" / "mathjax" / "tex-chtml.js").exists()
    assert (built_book.html / "_static" / "vendor" / "mathjax" / "output" / "chtml" / "fonts"
            / "woff-v2").is_dir()
