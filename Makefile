# medocr: the two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install fonts browser lint typecheck bench fuzz clean

## demo: install everything, then generate a certificate and print its fields
demo: install
	$(BIN)/medocr demo --out demo-output

## test: install everything (and the browser the review station's test drives), then lint
## and run the whole test suite
test: install browser
	PYTHON=$(BIN)/python bash scripts/fetch-schemas.sh
	$(BIN)/ruff check medocr tests benchmarks examples
	MEDOCR_REQUIRE_BROWSER=1 $(BIN)/pytest

install: fonts $(VENV)/.installed

fonts:
	bash scripts/install-fonts.sh

browser:
	bash scripts/install-browser.sh

$(VENV)/.installed: setup.cfg setup.py pyproject.toml constraints.txt medocr/decode/_kernels.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,compare,cluster]'
	touch $@

lint: install
	$(BIN)/ruff check medocr tests benchmarks examples
	$(BIN)/ruff format --check medocr tests benchmarks examples

typecheck: install
	$(BIN)/mypy

## bench: speed benchmarks; figures go to benchmarks/RESULTS.md
bench: install
	$(BIN)/python benchmarks/bench_synth.py

## fuzz: a million mutated PNG/JPEG/TIFF/BMP files through medocr.io.read_pages; fails on
## any outcome but pages or an InputError (FUZZ_CASES, FUZZ_WORKERS, FUZZ_SEED to change)
FUZZ_CASES ?= 1000000
FUZZ_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SEED ?= 0
fuzz: install
	$(BIN)/python scripts/fuzz_images.py --cases $(FUZZ_CASES) --workers $(FUZZ_WORKERS) \
		--seed $(FUZZ_SEED)

clean:
	rm -rf $(VENV) demo-output build *.egg-info .pytest_cache .ruff_cache .mypy_cache
