"""Binder and `make lab` open the notebooks the book's build writes (notebooks/...): Binder installs
exactly the book's pinned environment plus JupyterLab and jupyterlab-myst, in versions that agree,
its postBuild builds the book and lays out the notebooks, and jupytext's notebook is the default
viewer of the .md sources; the repository address comes from one place in _config.yml."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
BUILD_ONLY = {"jupyter-book", "sphinx", "sphinx-book-theme", "pydata-sphinx-theme", "myst-parser",
              "sphinx-exercise", "sphinx-proof", "sphinxcontrib-bibtex", "sphinx-design"}
# import name -> distribution that provides it
DISTRIBUTION = {"sklearn": "scikit-learn", "IPython": "ipykernel", "yaml": "pyyaml",
                "myst_nb": "myst-nb", "nflib": "-e ."}


def requirements(path: Path) -> dict[str, str]:
    """name -> pin ('' if unpinned) of a requirements file, following -r includes."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found.update(requirements(path.parent / line[3:].strip()))
        elif line in ("-e .", "."):
            found["-e ."] = ""
        else:
            name, _, pin = line.partition("==")
            found[name.strip().lower()] = pin.strip()
    return found


def imported_modules() -> set[str]:
    """Top-level modules the chapters' and exercises' code cells import."""
    modules = set()
    for path in [*ROOT.glob("chapters/*.md"), *ROOT.glob("exercises/*.md")]:
        for block in re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", path.read_text(), re.M | re.S):
            code = re.sub(r"^---\n.*?\n---\n", "", block, flags=re.S)
            code = "\n".join(line for line in code.splitlines() if not line.startswith(("%", "!")))
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return modules


def test_binder_has_a_python_the_numpy_stack_accepts():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match and int(match.group(1)) >= 11, f"binder/runtime.txt says {runtime!r}"


def test_binder_installs_the_books_pinned_environment_and_jupyterlab():
    """postBuild builds the book (so the notebooks carry its numbers): Binder installs everything
    requirements.txt pins, at the same versions (PyYAML included), and the Lab extensions."""
    wanted = requirements(BINDER / "requirements.txt")
    book = requirements(ROOT / "requirements.txt")
    missing = sorted(set(book) - set(wanted))
    assert not missing, f"binder/requirements.txt does not install {missing}"
    for name in ("jupyterlab", "jupytext", "jupyterlab-myst", "ipykernel", "ipywidgets", "pyyaml",
                 "jupyter-book", "sphinx", "myst-parser", "-e ."):
        assert name in wanted, f"binder/requirements.txt does not install {name}"
    unpinned = [n for n, pin in wanted.items() if not pin and n != "-e ."]
    assert not unpinned, f"unpinned in binder/requirements.txt: {unpinned}"


def test_binder_builds_the_notebooks_it_opens():
    post_build = (BINDER / "postBuild").read_text()
    assert "jupyter-book build ." in post_build
    assert "tools/lab_notebooks.py _build/html notebooks" in post_build
    makefile = (ROOT / "Makefile").read_text()
    lab = re.search(r"^lab:.*?(?=^\S|\Z)", makefile, re.M | re.S).group(0)
    assert "book" in lab.splitlines()[0] and "tools/lab_notebooks.py _build/html notebooks" in lab
    assert re.search(r"^test-lab:", makefile, re.M), "the Makefile has no `test-lab` target"
    readme = (ROOT / "README.md").read_text()
    assert "make test-lab" in readme and "notebooks/" in readme


def test_the_lab_extensions_agree():
    """`jupyter labextension list` flags no extension as incompatible with this JupyterLab."""
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    if jupyter is None or not Path(sys.executable).parent.joinpath("jupyter-lab").exists():
        import pytest

        pytest.skip("JupyterLab is not installed here (pip install -r requirements-lab.txt)")
    result = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True,
                            timeout=120)
    report = result.stdout + result.stderr
    assert "jupyterlab-myst" in report and "jupyterlab-jupytext" in report, report
    assert "not compatible" not in report and "incompatible" not in report.lower(), report
    assert " X" not in re.sub(r"\x1b\[[0-9;]*m", "", report), report


def test_binder_pins_agree_with_the_book():
    book, binder = requirements(ROOT / "requirements.txt"), requirements(BINDER / "requirements.txt")
    differ = {n: (book[n], binder[n]) for n in set(book) & set(binder) if book[n] != binder[n]}
    assert not differ, f"requirements.txt and binder/requirements.txt pin differently: {differ}"
    lab = requirements(ROOT / "requirements-lab.txt")
    for name in ("jupyterlab", "jupyterlab-myst", "jupytext"):
        assert lab.get(name) == binder[name], f"requirements-lab.txt and Binder differ on {name}"


def test_binder_provides_every_module_the_notebooks_import():
    wanted = requirements(BINDER / "requirements.txt")
    stdlib = set(sys.stdlib_module_names)
    missing = sorted(m for m in imported_modules() - stdlib
                     if DISTRIBUTION.get(m, m).lower().replace("_", "-") not in wanted)
    assert not missing, f"the notebooks import modules Binder does not install: {missing}"


def test_markdown_opens_as_a_notebook_in_jupyterlab():
    overrides = json.loads((BINDER / "overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers.get("markdown") == "Jupytext Notebook"
    assert viewers.get("myst") == "Jupytext Notebook"
    post_build = (BINDER / "postBuild").read_text()
    assert "share/jupyter/lab/settings" in post_build and "overrides.json" in post_build
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "binder/postBuild must be executable"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M), "the Makefile has no `lab` target"
    assert "binder/overrides.json" in makefile and "requirements-lab.txt" in makefile
    assert "make lab" in (ROOT / "README.md").read_text()


def test_the_repository_address_comes_from_one_place():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert branch
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["notebook_interface"] == "jupyterlab"
    others = [p for p in ("README.md", "CITATION.cff") if url in (ROOT / p).read_text()]
    assert "CITATION.cff" in others or not others  # a copy for citation tools only
