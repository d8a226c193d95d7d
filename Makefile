# `make demo`: set up, then run the main job on the embedded synthetic dataset.
# `make test`: set up, then run the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
OUTPUT ?= output/main_job

.PHONY: setup demo test format lint clean

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/main_job.py --output $(OUTPUT)

test: setup
	$(PY) -m pytest tests -q

format:
	$(PY) -m isort projects tools tests benchmarks datasets setup.py
	$(PY) -m black projects tools tests benchmarks datasets setup.py

lint:
	$(PY) -m isort --check-only projects tools tests benchmarks datasets setup.py
	$(PY) -m black --check projects tools tests benchmarks datasets setup.py

clean:
	rm -rf build output .pytest_cache
