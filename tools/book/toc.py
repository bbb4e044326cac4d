"""The book's table of contents and which of its pages are notebooks.

``find_root()`` is the folder holding ``_toc.yml`` and ``_config.yml``; ``toc_entries`` and
``toc_pages`` list the pages in reading order; ``book_notebooks`` and ``chapters`` pick the
notebooks among them (``is_notebook``: a ``.ipynb``, or a ``.md`` whose front matter declares
jupytext and a kernelspec).

A chapter is ``chapters/NN_name.md``. A chapter that outgrows its time budget continues on a
follow-up page ``chapters/NNx_name.md`` (x a lower-case letter: ``05b_...``), listed in
``_toc.yml`` as a section of chapter NN, with its own budget, quiz and test module; ``chapters``
lists both kinds. ``chapter_id`` is what a page's names are built from ("05", "05b"),
``chapter_number`` the number of the chapter it belongs to (5 for both) and ``parent_chapter``
the chapter a follow-up page continues.
"""

from __future__ import annotations

import re
from pathlib import Path

def find_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that holds both
    ``_toc.yml`` and ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    raise FileNotFoundError(f"no book (_toc.yml and _config.yml) at or above {here}")


def toc_entries(root=None) -> list[dict]:
    """Every page of ``_toc.yml`` in reading order, the root page first, as
    ``{"file": "chapters/01_change_of_variables", "part": caption, "numbered": bool}``."""
    import yaml

    root = Path(root) if root else find_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = [{"file": toc["root"], "part": None, "numbered": False}]

    def walk(items, part, numbered):
        for item in items or []:
            if "file" in item:
                entries.append({"file": re.sub(r"\.(md|ipynb)$", "", item["file"]),
                                "part": part, "numbered": numbered})
            walk(item.get("sections"), part, numbered)
            walk(item.get("chapters"), part, numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption"), bool(part.get("numbered")))
    walk(toc.get("chapters"), None, False)
    return entries


def toc_pages(root=None) -> list[Path]:
    """Every source file listed in ``_toc.yml`` (the root page first), in reading order."""
    root = Path(root) if root else find_root()
    return [_source_for(root, entry["file"]) for entry in toc_entries(root)]


def _source_for(root: Path, name: str) -> Path:
    for suffix in (".md", ".ipynb"):
        candidate = root / (name + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"_toc.yml lists {name!r} but no {name}.md or {name}.ipynb exists")


def is_notebook(path) -> bool:
    """True for a ``.ipynb``, or a ``.md`` whose front matter declares jupytext and a kernelspec."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md" or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front_matter = text.split("\n---", 1)[0]
    return "jupytext:" in front_matter and "kernelspec:" in front_matter


def book_notebooks(root=None) -> list[Path]:
    """Every page of ``_toc.yml`` that is a notebook."""
    return [p for p in toc_pages(root) if is_notebook(p)]


#: a chapter page ``NN_name`` or a follow-up page ``NNx_name`` (x a lower-case letter)
CHAPTER_NAME = re.compile(r"(\d\d)([a-z]?)_")


def chapters(root=None) -> list[Path]:
    """The chapter notebooks (``chapters/NN_*.md``) and their follow-up pages
    (``chapters/NNx_*.md``) in ``_toc.yml`` order."""
    return [p for p in book_notebooks(root)
            if p.parent.name == "chapters" and CHAPTER_NAME.match(p.name)]


def chapter_id(path) -> str:
    """``"05"`` for ``chapters/05_glow.md``, ``"05b"`` for the follow-up page ``05b_...``: the
    part of the name that glue prefixes (``ch5b_``), quiz ids (``05b-``) and the test module
    (``tests/test_chapter05b.py``) are built from."""
    match = CHAPTER_NAME.match(Path(path).name)
    if not match:
        raise ValueError(f"{Path(path).name} is not named like a chapter (NN_ or NNx_)")
    return match.group(1) + match.group(2)


def chapter_number(path) -> int:
    """The number of the chapter a page belongs to: 5 for ``05_glow`` and for ``05b_...``."""
    return int(chapter_id(path)[:2])


def is_follow_up(path) -> bool:
    """Whether ``path`` is a follow-up page (``NNx_name``) rather than a chapter (``NN_name``)."""
    return len(chapter_id(path)) > 2


def parent_chapter(path) -> Path:
    """The chapter page ``chapters/NN_*.md`` beside ``path`` that a follow-up page continues
    (for a chapter, the chapter itself)."""
    path = Path(path)
    number = chapter_id(path)[:2]
    found = sorted(path.parent.glob(f"{number}_*{path.suffix}"))
    if len(found) != 1:
        raise FileNotFoundError(f"{path.name}: expected one chapter {number}_*{path.suffix} "
                                f"beside it; found {[p.name for p in found]}")
    return found[0]
