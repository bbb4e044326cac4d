"""The book's table of contents and which of its pages are notebooks.

``find_root()`` is the folder holding ``_toc.yml`` and ``_config.yml``; ``toc_entries`` and
``toc_pages`` list the pages in reading order; ``book_notebooks`` and ``chapters`` pick the
notebooks among them (``is_notebook``: a ``.ipynb``, or a ``.md`` whose front matter declares
jupytext and a kernelspec).
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


def chapters(root=None) -> list[Path]:
    """The chapter notebooks (``chapters/NN_*.md``) in ``_toc.yml`` order."""
    return [p for p in book_notebooks(root)
            if p.parent.name == "chapters" and re.match(r"\d\d_", p.name)]
