# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing and (re)installs the project when pyproject.toml changes.
# `make test` = lint + a smoke test of the built wheel + the DICOM checkers + the browser + the test
# suite (what .ci/run runs); `make test-fast` = the unit tests alone, for the edit-test loop.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-fast lint wheel-smoke dicom-tools browser

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/mri-recon demo

# The whole suite in the precision this machine resolves to, then the precision-dependent tests
# again with the other resolution (MRI_RECON_FAST_BF16, mri_recon/precision.py): CI on any CPU
# covers both the bf16 and the float32 paths. Both run one pytest process per core
# (pytest-xdist) with one torch thread each (more threads than cores spin against each other).
# The slow tests come first (tests/conftest.py) and an idle process takes pending tests from a
# busy one (worksteal): a long test no longer runs alone in the last minutes.
PARALLEL := OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -n auto --dist worksteal

test: lint wheel-smoke dicom-tools browser
	$(PARALLEL)
	MRI_RECON_FAST_BF16=$$($(VENV)/bin/python -c "from mri_recon.precision import fast_bf16; print(int(not fast_bf16('cpu')))") \
		$(PARALLEL) -m precision

# Every module's unit tests, without the slow end-to-end runs and the rest of the sweeps, the
# same way in parallel: under 2 minutes on 2 cores.
test-fast: $(INSTALLED)
	$(PARALLEL) -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Build the wheel, install it without dependencies into a temporary folder, and run it from a
# folder outside the checkout: the package (with its bundled recipes and the HTML report's
# template) must work as installed.
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
	$(BIN)/python -c "from mri_recon.html import render_report; from mri_recon.report import Report; render_report(Report(['zero-filled']))" > /dev/null; \
	echo "wheel smoke test: the installed wheel runs --help, finds the bundled recipes and renders a report"

# Debian packages the tests use, installed with apt-get where a tool is missing and apt-get can
# run (as root, or through sudo without a password). $(call apt_install,TARGET,TOOLS,PACKAGES,FALLBACK)
# says what it does, and FALLBACK (what the tests do instead) when it cannot.
define apt_install
	@missing=$$(for tool in $(2); do command -v $$tool > /dev/null || echo $$tool; done); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then as=""; elif sudo -n true 2> /dev/null; then as="sudo -n"; \
	else as=none; fi; \
	install="$$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"; \
	if command -v apt-get > /dev/null && [ "$$as" != none ]; then \
		echo "$(1): installing $(3) ($$missing missing)"; \
		$$install $(3) > /dev/null 2>&1 \
		|| { $$as apt-get update -qq > /dev/null 2>&1 && $$install $(3) > /dev/null 2>&1; } \
		|| echo "$(1): apt-get failed; $(4)"; \
	else \
		echo "$(1): $$missing missing, no apt-get to install them; $(4)"; \
	fi
endef

# Independent checkers of the DICOM series the tests write: dicom3tools' dciodvfy (the MR image
# IOD) and dcmtk's dcmdump and dcm2pnm (parsing, pixel decoding).
dicom-tools:
	$(call apt_install,dicom-tools,dciodvfy dcmdump dcm2pnm,dcmtk dicom3tools,the DICOM tests check with pydicom alone)

# The browser the HTML report's tests open it in: Debian's headless-capable Chromium and its
# WebDriver, driven by Selenium (a dev dependency). Playwright's own browser download needs the
# internet; Debian's packages come from the same mirror as the rest of the system.
browser:
	$(call apt_install,browser,chromium chromedriver,chromium chromium-driver,the browser tests are skipped)
