"""A section's numerical checks, reported once at the end of the section.

A derivation in the book comes with a numerical check (a round trip, a log-determinant against
``slogdet`` or finite differences, a density against scipy). Rather than print "agrees to 1e-15"
after every cell, a section collects its checks and shows them once::

    from nflib.course.checks import Checks

    checks = Checks("Round trip and log-determinant")      # one per section (title optional)
    err = checks.add("round trip f^-1(f(z)) = z", error, tolerance=1e-10)
    checks.add("log-det vs finite-difference Jacobian", other_error, tolerance=1e-6)
    checks                 # last expression of the section's last code cell

``add`` returns the error as a float (so it can also be glued). A check whose error is above its
tolerance, or not finite, raises ``AssertionError`` at once: a wrong number stops the build
instead of being printed. The report is a folded HTML block (summary line "3 numerical checks
pass (largest error 2.2e-16)", a table name | error | tolerance inside) with a plain-text
fallback of one line per check. The HTML takes its colours from the page (light or dark theme,
JupyterLab) and sets none of its own.
"""

from __future__ import annotations

import html
import math

__all__ = ["Checks"]


def _error(value: float) -> str:
    """An error as the report shows it: "0" when exact, else two significant digits."""
    return "0" if value == 0 else f"{value:.1e}"


class Checks:
    """The numerical checks of one section: record with :meth:`add`, display once."""

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.rows: list[tuple[str, float, float]] = []  # (name, error, tolerance)

    def add(self, name: str, error, tolerance) -> float:
        """Record one check; raise ``AssertionError`` unless ``0 <= error <= tolerance``."""
        error, tolerance = float(error), float(tolerance)
        if not math.isfinite(error) or not 0.0 <= error <= tolerance:
            raise AssertionError(
                f"numerical check failed: {name}: error {error:.3g} "
                f"(tolerance {tolerance:.3g})")
        self.rows.append((name, error, tolerance))
        return error

    def __len__(self) -> int:
        return len(self.rows)

    def summary(self) -> str:
        """One line: how many checks pass and the largest error."""
        n = len(self.rows)
        if n == 0:
            line = "no numerical checks recorded"
        elif n == 1:
            line = f"1 numerical check passes (error {_error(self.rows[0][1])})"
        else:
            largest = max(error for _, error, _ in self.rows)
            line = f"{n} numerical checks pass (largest error {_error(largest)})"
        return f"{self.title}: {line}" if self.title else line

    def __repr__(self) -> str:
        lines = [f"Checks: {self.summary()}"]
        width = max((len(name) for name, _, _ in self.rows), default=0)
        for name, error, tolerance in self.rows:
            lines.append(f"  {name:<{width}}  error {_error(error):<7}  tolerance {tolerance:.2g}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        cell = 'style="padding:0.1em 0.8em 0.1em 0;border:none;background:transparent'
        rows = "".join(
            f'<tr><td {cell};text-align:left">{html.escape(name)}</td>'
            f'<td {cell};text-align:right;white-space:nowrap">{_error(error)}</td>'
            f'<td {cell};text-align:right;white-space:nowrap">{tolerance:.2g}</td></tr>'
            for name, error, tolerance in self.rows)
        head = "".join(
            f'<th {cell};text-align:{align};font-weight:600">{label}</th>'
            for label, align in (("check", "left"), ("error", "right"),
                                 ("tolerance", "right")))
        table = (
            '<table class="nf-checks-table" style="border-collapse:collapse;margin:0.3em 0 0 1.2em;'
            'color:inherit;background:transparent;font-size:0.9em">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>") if self.rows else ""
        mark = "&#10003; " if self.rows else ""
        return (
            '<details class="nf-checks" style="color:inherit;margin:0.2em 0">'
            f'<summary style="cursor:pointer">{mark}<span class="nf-checks-summary">'
            f"{html.escape(self.summary())}</span></summary>{table}</details>")
