"""The section-checks report (nflib.course.checks.Checks): passing checks are recorded and shown
once, a failing or non-finite check stops at once, and the HTML and text forms say the same."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import numpy as np
import pytest

from nflib.course.checks import Checks


def _three():
    checks = Checks("Round trip and log-determinant")
    checks.add("round trip f^-1(f(z)) = z", 2.2e-16, tolerance=1e-10)
    checks.add("log-det vs finite differences", np.float64(3.1e-9), tolerance=1e-6)
    checks.add("density <x> & 'y'", 0.0, tolerance=0.05)
    return checks


class _Cells(HTMLParser):
    """The tags met and the text of each table cell and of the summary line."""

    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.summary, self._in = [], [], "", None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        assert "color:#" not in (attrs.get("style") or "").replace(" ", ""), attrs
        if tag in ("td", "th", "summary"):
            self._in = tag
            if tag != "summary":
                self.cells.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "summary":
            self.summary += data
        elif self._in:
            self.cells[-1] += data


def test_add_returns_the_error_as_a_float_and_records_it():
    checks = Checks()
    err = checks.add("round trip", np.float64(1.5e-15), tolerance=1e-12)
    assert err == 1.5e-15 and type(err) is float
    assert len(checks) == 1
    assert checks.rows == [("round trip", 1.5e-15, 1e-12)]
    assert checks.add("exact", 0, tolerance=0) == 0.0  # error == tolerance passes


def test_a_failing_check_raises_naming_the_check_its_error_and_tolerance():
    checks = Checks("S")
    with pytest.raises(AssertionError) as info:
        checks.add("log-det vs slogdet", 2.5e-3, tolerance=1e-8)
    message = str(info.value)
    assert "log-det vs slogdet" in message and "0.0025" in message and "1e-08" in message
    assert len(checks) == 0


@pytest.mark.parametrize("error", [math.nan, math.inf, -math.inf, np.nan])
def test_a_non_finite_error_fails_even_with_an_infinite_tolerance(error):
    with pytest.raises(AssertionError, match="round trip"):
        Checks().add("round trip", error, tolerance=math.inf)


def test_a_negative_error_is_not_a_pass():
    with pytest.raises(AssertionError, match="abs"):
        Checks().add("abs forgotten", -1.0, tolerance=1e-6)


def test_text_form_has_the_summary_and_one_line_per_check():
    text = repr(_three())
    lines = text.splitlines()
    assert lines[0] == ("Checks: Round trip and log-determinant: 3 numerical checks pass "
                        "(largest error 3.1e-09)")
    assert len(lines) == 4
    assert "round trip f^-1(f(z)) = z" in lines[1] and "2.2e-16" in lines[1]
    assert "1e-10" in lines[1]
    assert "3.1e-09" in lines[2] and "1e-06" in lines[2]
    assert "0.05" in lines[3]


def test_ipython_pretty_printer_uses_the_text_form():
    from IPython.lib.pretty import pretty

    checks = _three()
    assert pretty(checks) == repr(checks)


def test_html_form_is_a_folded_table_with_the_same_numbers_and_escaped_names():
    checks = _three()
    page = checks._repr_html_()
    parser = _Cells()
    parser.feed(page)
    assert parser.tags[:2] == ["details", "summary"] and "table" in parser.tags
    assert " open" not in page.split(">")[0]          # folded
    assert "Round trip and log-determinant: 3 numerical checks pass (largest error 3.1e-09)" \
        in parser.summary
    assert parser.cells[:3] == ["check", "error", "tolerance"]
    body = [parser.cells[i:i + 3] for i in range(3, len(parser.cells), 3)]
    assert body == [["round trip f^-1(f(z)) = z", "2.2e-16", "1e-10"],
                    ["log-det vs finite differences", "3.1e-09", "1e-06"],
                    ["density <x> & 'y'", "0", "0.05"]]
    assert "<x>" not in page                                # names are escaped
    assert "color:inherit" in page.replace(" ", "")         # colours come from the page
    # a number is never broken across lines on a phone ("4.7e-" / "15")
    assert page.count("white-space:nowrap") == 2 * len(body)


def test_one_check_is_said_in_the_singular():
    checks = Checks()
    checks.add("density integrates to one", 4e-11, tolerance=1e-8)
    assert checks.summary() == "1 numerical check passes (error 4.0e-11)"
    assert "1 numerical check passes" in checks._repr_html_()


def test_an_exact_agreement_shows_as_zero():
    checks = Checks()
    checks.add("sum of the layers' log-dets", 0.0, tolerance=1e-12)
    assert checks.summary() == "1 numerical check passes (error 0)"
    checks.add("shoelace area", 0.0, tolerance=1e-12)
    assert checks.summary() == "2 numerical checks pass (largest error 0)"
    assert "error 0 " in repr(checks).splitlines()[1]


def test_empty_checks_say_so_in_both_forms():
    checks = Checks("Nothing yet")
    assert len(checks) == 0
    assert repr(checks) == "Checks: Nothing yet: no numerical checks recorded"
    page = checks._repr_html_()
    assert "no numerical checks recorded" in page and "<table" not in page


def test_display_bundle_has_html_and_plain_text():
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(_three())
    assert data["text/html"].startswith("<details")
    assert data["text/plain"].startswith("Checks: Round trip")
