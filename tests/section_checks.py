"""The numerical-checks reports a page shows (``nflib.course.checks.Checks``), read from the
executed notebook, for the chapter tests that assert one report per section."""

from __future__ import annotations


def section_checks(nb) -> list[str]:
    """The plain-text form of every section's checks report on the page, in order."""
    return [o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "execute_result"
            and o["data"].get("text/plain", "").startswith("Checks:")]


def report_title(report: str) -> str:
    """The section title of a report's first line, "Checks: <title>: 3 numerical checks pass ..."."""
    return report.splitlines()[0].removeprefix("Checks: ").rsplit(": ", 1)[0]


def assert_one_report_per_section(nb, expected: dict) -> None:
    """The page shows one checks report per section, in order: ``expected`` maps each section's
    title to its number of checks; every report passes and is also shown as a folded table."""
    reports = section_checks(nb)
    assert [report_title(r) for r in reports] == list(expected), [report_title(r) for r in reports]
    for report, n in zip(reports, expected.values()):
        assert len(report.splitlines()) == 1 + n, report
        assert "pass" in report.splitlines()[0], report
    tables = [h for h in nb.html_outputs() if 'class="nf-checks"' in h]
    assert len(tables) == len(expected) and all(h.startswith("<details") for h in tables)
