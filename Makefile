# Two commands on a fresh machine (Python 3.11+ with venv):
#   make book   install the book's requirements into .venv and build the site into _build/html
#   make test   install the test requirements into .venv and run the whole test suite
# More: `make lab` (the chapters as notebooks in JupyterLab), `make pdf` (PDFs of the built site).
# The browser tests need Chromium: `apt-get install -y chromium` (Debian) provides /usr/bin/chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: book test learner lab pdf clean

book: $(VENV)/.installed-book
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(VENV)/.installed-dev
	$(PY) -m pytest

# regenerate the learner versions of the exercises from the instructor versions
learner: $(VENV)/.installed-book
	$(PY) tools/make_learner.py

# run the chapters and exercises as notebooks in JupyterLab (the .md files open as notebooks)
lab: $(VENV)/.installed-lab
	$(VENV)/bin/jupyter lab

# a PDF of every page and of the whole book, printed from the built site with Chromium
pdf: book $(VENV)/.installed-pdf
	$(PY) tools/make_pdf.py --html _build/html

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-book: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-pdf.txt pyproject.toml | $(VENV)/bin/python
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
