# cosmoml: `make demo` and `make test` each set up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench bench-shift bench-shift-realisations bench-scale bench-nz-scale bench-files bench-device bench-calibration bench-glass bench-rail clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel setuptools >/dev/null
	# torch is pinned to the CPU wheel cached on these machines (see README).
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/cosmoml demo --output-dir demo_output

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

bench: $(STAMP)
	$(BIN)/python benchmarks/photoz_dc2.py

bench-shift: $(STAMP)
	$(BIN)/python benchmarks/shift.py

bench-shift-realisations: $(STAMP)
	$(BIN)/python benchmarks/shift_realisations.py

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

bench-nz-scale: $(STAMP)
	$(BIN)/python benchmarks/nz_scale.py

bench-files: $(STAMP)
	$(BIN)/python benchmarks/file_parts.py --format fits --rows 10000000
	$(BIN)/python benchmarks/file_parts.py --format csv --rows 2000000
	$(BIN)/python benchmarks/file_parts.py --format csv.gz --rows 2000000
	$(BIN)/python benchmarks/file_parts.py --format fits.gz --rows 2000000

# on a machine with a GPU: the nn estimator there (see README, Benchmarks)
bench-device: $(STAMP)
	$(BIN)/python benchmarks/device_check.py

bench-calibration: $(STAMP)
	$(BIN)/python benchmarks/calibration.py
	$(BIN)/python benchmarks/clustering.py --mocks 20

bench-glass: $(STAMP)
	$(BIN)/python benchmarks/clustering.py --backend glass --mocks 5 \
		--output benchmarks/results/clustering_glass.json

bench-rail:
	bash benchmarks/setup_rail_env.sh

clean:
	rm -rf $(VENV) demo_output build *.egg-info src/*.egg-info
