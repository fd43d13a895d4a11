# mifomo_lite — two commands: `make demo` (main job) and `make test` (whole suite).
# The virtual environment lives in .venv. Torch is installed first and only when missing:
# TORCH_SPEC defaults to the CPU wheel this kind of machine has on disk; Colab/your own env keeps its torch.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mifomo-installed
PYTEST_ARGS ?=
GPU_CHECK_ARGS ?=

.PHONY: venv demo test test-fast notebooks-sync gpu-check wheel book clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,book]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: venv
	$(VENV)/bin/mifomo-lite demo

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -m "not slow" -x -q $(PYTEST_ARGS)

# On a CUDA machine: notebooks (papermill, colab profile), paper preset (2 episodes), train-step
# throughput / GEMM peak → runs/gpu-check/<stamp>/gpu_check.json, ≤ 8 min. Without CUDA: one line, exit 0.
gpu-check: venv
	$(PY) -m mifomo_tools.gpu_check $(GPU_CHECK_ARGS)

notebooks-sync: venv
	$(VENV)/bin/jupytext --sync notebooks/*.py

# An installable wheel with the shipped weights (mifomo_lite/assets) in dist/; the notebooks install
# it when MIFOMO_INSTALL_SOURCE points at it. Reference solutions are not part of it.
wheel: venv
	rm -rf build
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls -l dist/*.whl

# The Jupyter Book from the lite outputs: student edition by default, `make book EDITION=teacher`
# for the one with solutions. Offline (MathJax is served from the build).
EDITION ?= student
BOOK_PROFILE ?= lite
book: venv
	$(VENV)/bin/mifomo-lite notebooks book --run --profile $(BOOK_PROFILE) --edition $(EDITION)

clean:
	rm -rf $(VENV) build dist *.egg-info
