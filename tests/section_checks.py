"""The numerical-checks reports a page shows (``nflib.course.checks.Checks``), read from the
executed notebook, for the chapter tests that assert one report per section."""

from __future__ import annotations


def section_checks(nb) -> list[str]:
    """The plain-text form of every section's checks report on the page, in order."""
    return [o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "execute_result"
            and o["data"].get("text/plain", "").startswith("Checks:")]
