"""How long axe-core takes on each page of the built site, on the whole page and on the page as
the browser suite has it read (``browsing.run_axe_lean``: code blocks as plain text, formulas'
glyphs as empty boxes), and whether both find the same violations.

    python benchmarks/axe_time.py --html /tmp/b/_build/html [--page chapters/03_x.html ...]

Each page is opened at desktop width (light theme; every rule) and on a phone (dark theme, touch;
the rules of ``browsing.PHONE_AXE_RULES``), as the browser suite's two visits open it. Exits with
1 if on some page the two runs find different violations (by rule, impact and number of
elements), so a change to what the suite hides from axe is checked here first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from browsing import (DESKTOP, PHONE, PHONE_AXE_RULES, chromium_on, open_tab,  # noqa: E402
                      run_axe, run_axe_lean, toc_html_pages)

VISITS = {"desktop": (dict(viewport=DESKTOP), None),
          "phone": (dict(viewport=PHONE, color_scheme="dark", is_mobile=True, has_touch=True),
                    {"resultTypes": ["violations"], "preload": False,
                     "runOnly": {"type": "rule", "values": PHONE_AXE_RULES}})}


def _found(violations: list[dict]) -> list[tuple]:
    return sorted((v["id"], v["impact"], len(v["nodes"])) for v in violations)


def _timed(run, *args) -> tuple[float, list[tuple]]:
    start = time.perf_counter()
    found = _found(run(*args))
    return time.perf_counter() - start, found


def compare(browser, site, page: str, visit: str) -> tuple[float, float, list, list]:
    """(seconds on the whole page, seconds lean, violations whole, violations lean)."""
    options, axe_options = VISITS[visit]
    with open_tab(browser, site, **options) as tab:
        tab.goto(page)
        tab.wait_for_math()
        tab.load_all_images()
        whole_s, whole = _timed(run_axe, tab.page, axe_options)
        lean_s, lean = _timed(run_axe_lean, tab.page, axe_options)
    return whole_s, lean_s, whole, lean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--page", action="append", dest="pages")
    args = parser.parse_args(argv)
    pages = args.pages or toc_html_pages()
    totals = {visit: [0.0, 0.0] for visit in VISITS}
    differ = []
    print(f"{'page':48s}{'desktop s':>16s}{'phone s':>16s}   (whole -> lean)")
    with chromium_on(args.html.resolve()) as (browser, site):
        for page in pages:
            cells = []
            for visit in VISITS:
                whole_s, lean_s, whole, lean = compare(browser, site, page, visit)
                totals[visit][0] += whole_s
                totals[visit][1] += lean_s
                cells.append(f"{whole_s:7.1f} -> {lean_s:4.1f}")
                if whole != lean:
                    differ.append(f"{page} ({visit}): whole page {whole}, lean {lean}")
            print(f"{page:48s}{cells[0]:>16s}{cells[1]:>16s}", flush=True)
    print(f"{'all pages':48s}" + "".join(f"{whole:7.1f} -> {lean:4.1f}".rjust(16)
                                       for whole, lean in totals.values()))
    for line in differ:
        print("DIFFERENT:", line)
    print("same violations on every page" if not differ else f"{len(differ)} runs differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
