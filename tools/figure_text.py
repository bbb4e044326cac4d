"""How large each figure's smallest text is drawn on a phone and on a desktop, from one notebook.

    python tools/figure_text.py chapters/03_autoregressive_flows.md   # executes it on a fresh kernel
    python tools/figure_text.py executed.ipynb                         # reads an executed notebook

Every figure the book draws records its smallest font size (``nflib.course.viz``). On the site a
figure is drawn at its natural width (half the PNG's pixels, which are 2x) or the text column,
whichever is narrower: the column is 342 CSS px on a 390 px phone and 672 px at 1280 px. This
prints, per figure, the smallest text in CSS px at both widths and flags those below the book's
limits (9 px on a phone, 11 px on a desktop); the browser suite measures the same on the built
site (``tests/browser/test_reader_layout.py``). Exit status 1 if any figure is flagged.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
from pathlib import Path

COLUMN_PX = {"phone": 342.0, "desktop": 672.0}
SMALLEST_PX = {"phone": 9.0, "desktop": 11.0}
_RECORD = re.compile(r'<img id="_anim_img[^"]*"[^>]*?width="(\d+)"[^>]*?data-nflib-text-size="([^"]*)"')


def _png_facts(data: str):
    """(min_font_pt, width_in, natural CSS width) of a 2x PNG with a text-size record, or None."""
    from PIL import Image

    from nflib.course.viz import TEXT_SIZE_KEY

    with Image.open(io.BytesIO(base64.b64decode(data))) as png:
        record, pixels = png.text.get(TEXT_SIZE_KEY), png.size[0]
    if record is None:
        return None
    facts = json.loads(record)
    return facts["min_font_pt"], pixels / facts["dpi"], pixels / 2.0


def figures(notebook) -> list[dict]:
    """Each figure output of an executed notebook: cell index, min font, width, natural width."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                facts = _png_facts(data["image/png"])
                found.append({"cell": index, "kind": "png", "facts": facts})
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            for width, record in _RECORD.findall(html):
                facts = json.loads(record.replace("&quot;", '"'))
                found.append({"cell": index, "kind": "scrubber",
                              "facts": (facts["min_font_pt"], facts["width_in"], float(width))})
    return found


def drawn_px(facts, column: float) -> float:
    """The smallest text's size in CSS px when the figure is drawn in a column this wide."""
    min_pt, width_in, natural = facts
    if min_pt is None:
        return float("inf")
    return min_pt * min(natural, column) / (72.0 * width_in)


def report(notebook) -> int:
    flagged = 0
    print(f"{'cell':>5s} {'kind':9s} {'pt':>5s} {'phone px':>9s} {'desktop px':>11s}")
    for fig in figures(notebook):
        if fig["facts"] is None:
            print(f"{fig['cell']:5d} {fig['kind']:9s}  (no text-size record)")
            flagged += 1
            continue
        sizes = {w: drawn_px(fig["facts"], COLUMN_PX[w]) for w in COLUMN_PX}
        bad = [w for w in sizes if sizes[w] < SMALLEST_PX[w] - 0.05]
        flagged += bool(bad)
        pt = fig["facts"][0]
        print(f"{fig['cell']:5d} {fig['kind']:9s} {pt if pt else 0:5.1f} {sizes['phone']:9.1f} "
              f"{sizes['desktop']:11.1f}  {'TOO SMALL: ' + ', '.join(bad) if bad else ''}")
    return flagged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help="a MyST .md notebook (executed here) or an executed .ipynb")
    path = Path(parser.parse_args().notebook)
    if path.suffix == ".ipynb":
        import nbformat

        notebook = nbformat.read(path, as_version=4)
    else:
        import book

        notebook = book.execute(str(path.resolve())).notebook
    return 1 if report(notebook) else 0


if __name__ == "__main__":
    sys.exit(main())
