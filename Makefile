# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing and (re)installs the project when pyproject.toml changes.
# `make test` = lint + a smoke test of the built wheel + the test suite (what .ci/run runs);
# `make test-fast` = the unit tests alone, for the edit-test loop.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-fast lint wheel-smoke

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/mri-recon demo

# The whole suite in the precision this machine resolves to, then the precision-dependent tests
# again with the other resolution (MRI_RECON_FAST_BF16, mri_recon/precision.py): CI on any CPU
# covers both the bf16 and the float32 paths.
test: lint wheel-smoke
	$(VENV)/bin/python -m pytest
	MRI_RECON_FAST_BF16=$$($(VENV)/bin/python -c "from mri_recon.precision import fast_bf16; print(int(not fast_bf16('cpu')))") \
		$(VENV)/bin/python -m pytest -m precision

# Every module's unit tests, without the slow end-to-end runs: under 2 minutes on 2 cores.
test-fast: $(INSTALLED)
	$(VENV)/bin/python -m pytest -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Build the wheel, install it without dependencies into a temporary folder, and run it from a
# folder outside the checkout: the package (with its bundled recipes) must work as installed.
# build/ goes first: setuptools would package files left in it by an older build.
wheel-smoke: $(INSTALLED)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	rm -rf build; \
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir "$$tmp/dist" . ; \
	$(BIN)/python -m pip install --quiet --no-deps --target "$$tmp/site" "$$tmp"/dist/*.whl; \
	cd "$$tmp"; export PYTHONPATH="$$tmp/site"; \
	$(BIN)/python -c "import mri_recon, sys; sys.exit(not mri_recon.__file__.startswith('$$tmp'))"; \
	$(BIN)/python -m mri_recon --help > /dev/null; \
	"$$tmp/site/bin/mri-recon" fit --config demo --print_config > config.yaml; \
	grep -q "class_path: mri_recon.models.Unet" config.yaml; \
	echo "wheel smoke test: the installed wheel runs --help and finds the bundled recipes"
