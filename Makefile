# Two entry points: `make demo` trains LRCN-2f on the built-in demo dataset,
# `make test` runs the test suite. Both create .venv and install mmcap first
# (once; again only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed
WORKDIR ?= runs/demo

.PHONY: demo test install clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mmcap needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/python -m mmcap.main --config=configs/demo.py --workdir=$(WORKDIR)

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile tests

clean:
	rm -rf $(VENV) runs
