# Two commands: `make book` (execute every chapter, build the book) and `make test`.
# Both set up .venv first; nothing else needs installing by hand. After either, `make lab`
# opens the chapters in JupyterLab, with the same PROFILE and DATA_ROOT, beside the book.
PYTHON    ?= python3
VENV      ?= .venv
PROFILE   ?= auto
# Real images for offline runs: ../shared/data when it is there, else none (a generated set).
DATA_ROOT ?= $(if $(wildcard ../shared/data/PetImages),../shared/data,)

BIN := $(VENV)/bin
RUN_ARGS := --profile $(PROFILE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

.PHONY: setup book test lab browser clean

$(BIN)/clipdistill: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $@

setup: $(BIN)/clipdistill

## make book: execute all chapters with papermill, then build _build/html/index.html
book: setup
	$(BIN)/clipdistill run $(RUN_ARGS)
	$(BIN)/clipdistill book

## make lab: JupyterLab on notebooks/ with .venv's kernel; prints its address and the book's
## index.html. Its kernels get PROFILE and DATA_ROOT, so a chapter run there resolves as in
## `make book`. Interactive: Ctrl-C stops it.
lab: setup
	$(BIN)/clipdistill lab $(RUN_ARGS)

## make test: unit tests, then every chapter in `smoke`, the strict book build and the
## browser check (headless Chromium from Debian, installed here when we are root)
test: setup browser
	$(BIN)/python -m pytest

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser check..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else echo "note: no chromium and not root: the browser check will be skipped"; fi; }

clean:
	rm -rf _build book/chapters book/_generated results
