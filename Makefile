# `make demo`: set up, train the default preset on the embedded digits, evaluate it.
# `make test`: set up (with dev extras) and run the test suite on 2 workers; worksteal
# hands the long subprocess tests of the study and fault suites to whichever worker is
# free (measured: 357 s against 509-518 s with the default schedule's idle tail).
# Set-up: a virtual environment in .venv. If the system Python already has
# torch, the venv sees it (--system-site-packages) and keeps it; otherwise
# torch is pinned by constraints-cpu.txt (the local CPU wheel), not pulled
# from the registry as a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_TORCH := $(shell $(PYTHON) -c "import torch" >/dev/null 2>&1 && echo yes)
VENV_FLAGS := $(if $(SYSTEM_TORCH),--system-site-packages,)
RUNS ?= runs

.PHONY: demo test setup setup-dev bench clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	touch $@

$(VENV)/.torch: $(VENV)/.created
	$(PY) -c "import torch" >/dev/null 2>&1 || $(PY) -m pip install -q -c constraints-cpu.txt torch
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PY) -m pip install -q -c constraints-cpu.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.torch pyproject.toml
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[dev]"
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/ganscape demo --out $(RUNS)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n 2 --dist worksteal --durations=15

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_throughput.py
	$(PY) benchmarks/bench_fid.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_mode_coverage.py

clean:
	rm -rf $(VENV) $(RUNS) .pytest_cache
