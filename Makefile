# Two commands on a fresh machine (Python 3.11+ with venv):
#   make book   install the book's requirements into .venv and build the site into _build/html
#   make test   install the test requirements into .venv and run the whole test suite
# More: `make lab` (the chapters as notebooks in JupyterLab), `make pdf` (PDFs of the built site),
# `make test-lab` (every chapter and exercise run in a real JupyterLab; `make test` runs one of each).
# The browser tests need Chromium and the PDF tests pdftoppm: `apt-get install -y chromium poppler-utils`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: book test test-lab learner lab pdf clean

book: $(VENV)/.installed-book
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# two workers (pytest-xdist): one builds the book in the background while both run the tests
# that do not need it; then they share the tests of the built site, one page to a worker
test: $(VENV)/.installed-dev
	$(PY) -m pytest -n 2

# every chapter and exercise opened and run in JupyterLab as Binder opens them, and a downloaded
# chapter run in a fresh virtual environment made with its own install line (builds the book)
test-lab: $(VENV)/.installed-dev
	LAB_ALL=1 $(PY) -m pytest tests/browser/test_jupyterlab.py tests/test_downloads.py -k "jupyterlab or fresh_venv"

# regenerate the learner versions of the exercises from the instructor versions
learner: $(VENV)/.installed-book
	$(PY) tools/make_learner.py

# run the chapters and exercises in JupyterLab: build the book (its execution cache makes this
# quick after the first time), lay out the notebooks it writes in notebooks/ as Binder does,
# and open that folder (the .md sources open as notebooks too, for editing)
lab: book $(VENV)/.installed-lab
	$(PY) tools/lab_notebooks.py _build/html notebooks
	$(VENV)/bin/jupyter lab --LabApp.default_url=/lab/tree/notebooks

# a PDF of every page and of the whole book, printed from the built site with Chromium
pdf: book $(VENV)/.installed-pdf
	$(PY) tools/make_pdf.py --html _build/html

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-book: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-pdf.txt requirements-lab.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-book

$(VENV)/.installed-lab: requirements-lab.txt requirements.txt pyproject.toml binder/overrides.json | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-lab.txt
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

$(VENV)/.installed-pdf: requirements-pdf.txt requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-pdf.txt
	touch $@

clean:
	rm -rf _build
