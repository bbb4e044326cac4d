# Two commands on a fresh machine (Python 3.11+ with venv):
#   make book   install the book's requirements into .venv and build the site into _build/html
#   make test   install the test requirements into .venv and run the whole test suite
# The browser tests need Chromium: `apt-get install -y chromium` (Debian) provides /usr/bin/chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: book test learner clean

book: $(VENV)/.installed-book
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(VENV)/.installed-dev
	$(PY) -m pytest

# regenerate the learner versions of the exercises from the instructor versions
learner: $(VENV)/.installed-book
	$(PY) tools/make_learner.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-book: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-book

clean:
	rm -rf _build
