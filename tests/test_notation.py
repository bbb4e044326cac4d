"""The notation page lists every symbol the chapters use, one name per role or a stated mapping,
and the direction of each map.

``SYMBOLS`` is the maintained list: when a chapter introduces a symbol (or gives an old one a new
role), add it here and to ``notation.md``. Each entry is the LaTeX as the notation page writes it
and the chapters where it is used; the test checks that the page has it and that the chapters
named still use it (so the list does not keep symbols no page uses).
"""

from __future__ import annotations

import pytest

from notebooks import ROOT

NOTATION = ROOT / "notation.md"

#: LaTeX on the notation page -> (what it must be explained as, chapters that use it)
SYMBOLS = {
    r"p_Z": ("base distribution", [1, 4, 6]),
    r"p_0": ("same density", [2]),
    r"p_X": ("density of $x = f(z)$", [1, 2]),
    r"q_\theta": ("fitted to a target", [6]),
    r"\tilde p": ("unnormalised target", [2, 6, 7]),
    r"\mathcal Z = \int \tilde p(x)\,dx": ("normaliser", [2, 6]),
    r"\hat Z": ("importance-sampling estimate", [7]),
    r"p_{\text{data}}": ("distribution of the data", [2]),
    r"\varphi": ("standard normal density", [3]),
    r"\Phi": ("CDF", [1, 3]),
    r"x_{<i}": ("coordinates before $i$", [3]),
    r"\odot": ("elementwise", [4]),
    r"J_f(z)": ("Jacobian", [1, 2]),
    r"H(p)": ("entropy", []),
    # \Vert, not \|: a markdown table reads "\|" as an escaped cell separator
    r"\mathrm{KL}(p\,\Vert\,q)": ("Kullback–Leibler", []),
    r"\alpha_i": ("autoregressive", [3]),
    r"\mu_i": ("autoregressive", [3]),
    r"$s$, $t$": ("coupling", [2, 4]),
    r"x_A": ("kept", [4]),
    r"\hat u": ("constrained", [2]),
    r"m(a) = -1 + \log(1 + e^{a})": ("w^\\top\\hat u", [2]),
    r"z_k = f_k(z_{k-1})": ("composition", [1, 2]),
    r"\theta": ("parameters", [2, 6]),
    r"\eta": ("learning rate", []),
    r"\beta_1": ("Adam", [6]),
    r"\mathcal N(\mu, \Sigma)": ("Gaussian", []),
    r"$T$": ("temperature", [5]),
    r"\mathrm{ELBO}(q)": ("evidence lower bound", [7]),
    r"\hat k": ("Pareto", [7]),
    r"u_t": ("velocity", [8]),
    r"\varepsilon": ("Hutchinson", [8]),
}

#: maps whose direction the page must state
MAPS = ["Knothe–Rosenblatt map", "$h = f^{-1}$", "MAF", "IAF", "flow-matching ODE"]


def _page() -> str:
    return NOTATION.read_text(encoding="utf-8")


@pytest.mark.parametrize("symbol", sorted(SYMBOLS), ids=lambda s: s[:30])
def test_symbol_is_on_the_notation_page_with_its_meaning(symbol):
    page = _page()
    assert symbol in page, f"notation.md does not list {symbol}"
    meaning = SYMBOLS[symbol][0]
    rows = [line for line in page.splitlines() if symbol in line]
    assert any(meaning in row for row in rows), (
        f"notation.md lists {symbol} but not as '{meaning}': {rows[:2]}")


@pytest.mark.parametrize("symbol", sorted(SYMBOLS), ids=lambda s: s[:30])
def test_the_chapters_named_use_the_symbol(symbol):
    """A symbol is listed because a chapter uses it (the first word of the LaTeX is searched)."""
    core = symbol.strip("$").split(" = ")[0].split("$, $")[0]
    for number in SYMBOLS[symbol][1]:
        chapter = next((ROOT / "chapters").glob(f"{number:02d}_*.md"))
        assert core in chapter.read_text(encoding="utf-8"), f"{chapter.name} does not use {core}"


def test_every_map_has_its_direction():
    page = _page()
    table = page[page.index("| map | direction |"):page.index("## Symbols")]
    for name in MAPS:
        row = next((line for line in table.splitlines() if name in line), None)
        assert row is not None, f"notation.md gives no direction for {name}"
        assert "\\mapsto" in row or "to $t = 1$" in row, row


def test_one_name_per_role_or_a_stated_mapping():
    page = _page()
    # p_0 and p_Z: one density, said once
    assert "**$p_0$ and $p_Z$ are the same density**" in page
    # the normaliser is never the random variable Z
    assert "it is never the random variable $Z$" in page
    # coupling (s, t) and autoregressive (alpha_i, mu_i) roles are mapped onto each other
    assert "play the roles of $s$ and $t$" in page
    # the chapters the lead owns here use the new names
    for number in (2, 6):
        text = next((ROOT / "chapters").glob(f"{number:02d}_*.md")).read_text()
        assert "\\log Z" not in text and "\\mathcal Z" in text


def test_no_math_in_a_table_cell_uses_a_bare_bar():
    """In a table "\\|" is read as an escaped cell separator: inside math it prints a single bar."""
    for line in _page().splitlines():
        if line.startswith("|"):
            for cell_math in line.split("$")[1::2]:
                assert "\\|" not in cell_math, line


def test_notation_links_the_background_page():
    assert "{doc}`background page <background>`" in _page()
