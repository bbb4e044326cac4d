"""Lay out the notebooks the book built in ``notebooks/``, where Binder and ``make lab`` open them.

    python tools/lab_notebooks.py _build/html notebooks

The build writes every notebook page as a stand-alone notebook (``_sources/<page>.ipynb``, with
the computed numbers, figure numbers, citations and captions written in: see
``tools/sphinx/notebook_downloads.py``). This copies them to ``notebooks/chapters/<stem>.ipynb``,
``notebooks/exercises/<stem>.ipynb`` (the learner versions) and ``notebooks/solutions/<stem>.ipynb``
(the instructor versions), replacing what an earlier run left there. The page's Binder button
opens the same paths.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "sphinx"))

from notebook_downloads import LAB_FOLDER, lab_notebooks  # noqa: E402

README = """# The course's notebooks

Generated from the book by `tools/lab_notebooks.py` (every number computed when the book was
built, and computed again when you run the cells). `chapters/` holds the chapters, `exercises/`
the exercises to complete, `solutions/` the exercises with their solutions (for instructors).
"""


def write(html, target) -> list[Path]:
    """Copy the notebooks of the site built into ``html`` to the folder ``target``."""
    html, target = Path(html), Path(target)
    found = lab_notebooks(html / "_sources")
    if not found:
        raise SystemExit(f"no notebooks in {html / '_sources'}: build the book first")
    for folder in ("chapters", "exercises", "solutions"):   # what an earlier run wrote
        shutil.rmtree(target / folder, ignore_errors=True)
    written = []
    for path, source in found.items():
        destination = target / Path(path).relative_to(LAB_FOLDER)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(destination)
    (target / "README.md").write_text(README, encoding="utf-8")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("_build/html"),
                        help="the built site (default: _build/html)")
    parser.add_argument("target", type=Path, nargs="?", default=Path(LAB_FOLDER),
                        help=f"where to write them (default: {LAB_FOLDER})")
    args = parser.parse_args(argv)
    written = write(args.html, args.target)
    print(f"wrote {len(written)} notebooks into {args.target}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
