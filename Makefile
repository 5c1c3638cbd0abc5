# pyiqa_fast developer entry points. `make demo` and `make test` bootstrap ./.venv from nothing:
# torch first (this machine's local wheel through pip's configuration; TORCH=... to choose
# another), then the build and test tools, then the extension against that torch.
SHELL := /bin/bash
PYTHON ?= python3
TORCH ?= torch==2.14.1
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
BUILD_DEPS := scikit-build-core pybind11 ninja cmake numpy pillow
# What `make demo` runs with: configs, progress bars, training curves, DEIQT's ViT blocks, the
# photographs scikit-image ships (the embedded skimage-synth dataset).
RUN_DEPS := pyyaml tqdm matplotlib timm scikit-image
# scipy and scikit-image: upstream-faithful distortion references (tests/references) and real photos;
# kornia: the per-image ARNIQA baseline of bench_distort.
TEST_DEPS := pytest hypothesis scipy kornia
SOURCES := $(shell find csrc -type f) CMakeLists.txt pyproject.toml
PYTEST_ARGS ?=

.PHONY: demo test test-gpu sanitize bench wheel wheel-check lint build clean distclean

demo: $(VENV)/.built
	$(PY) -m pyiqa_fast demo

test: $(VENV)/.built $(VENV)/.test-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# On a GPU machine: the whole suite incl. the needs_cuda / needs_triton_gpu tests (no interpreter).
test-gpu: $(VENV)/.built $(VENV)/.test-deps
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'make test-gpu: no CUDA device')"
	$(PY) -m pytest -q -m "needs_cuda or needs_triton_gpu" $(PYTEST_ARGS)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# compute-sanitizer over the standalone kernel tests (csrc/tests), built without torch, and over
# distort's CUDA test cases.
sanitize: $(VENV)/.built $(VENV)/.test-deps
	$(VENV)/bin/cmake -S . -B build/kernel-tests -G Ninja -DPYIQA_FAST_KERNEL_TESTS=ON -DPYIQA_FAST_CUDA=ON \
		-DPython_EXECUTABLE=$(abspath $(PY)) -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
		-DSKBUILD_PROJECT_VERSION=0.1.0
	$(VENV)/bin/cmake --build build/kernel-tests --target test_margin_ranking_loss_cpu test_margin_ranking_loss_cuda \
		test_dsm_pool_cpu test_dsm_pool_cuda test_block_attention_cpu test_block_attention_cuda test_distort_cpu
	build/kernel-tests/test_distort_cpu
	set -e; for op in margin_ranking_loss dsm_pool block_attention; do \
		build/kernel-tests/test_$${op}_cpu; \
		compute-sanitizer --tool memcheck --error-exitcode 1 build/kernel-tests/test_$${op}_cuda; \
		compute-sanitizer --tool racecheck --error-exitcode 1 build/kernel-tests/test_$${op}_cuda; \
		compute-sanitizer --tool initcheck --error-exitcode 1 build/kernel-tests/test_$${op}_cuda; \
	done
	# distort's CUDA kernels run under the sanitizers through their pytest cases (the GPU schedule).
	set -e; for tool in memcheck racecheck; do \
		compute-sanitizer --tool $$tool --error-exitcode 1 $(PY) -m pytest -q -x -p no:cacheprovider tests/distortions \
			-k "cuda and not emulated and not interpreter and not triton"; \
	done

bench: $(VENV)/.built
	$(PY) -m bench.bench_margin_ranking_loss
	$(PY) -m bench.bench_dsm_pool
	$(PY) -m bench.bench_block_attention
	$(PY) -m bench.bench_distort
	$(PY) -m bench.bench_train_step

wheel: $(VENV)/.deps
	$(PIP) wheel --no-build-isolation --no-deps -w dist .

# Installs the wheel into a fresh venv holding only torch and runs the op there.
wheel-check: wheel
	rm -rf build/wheel-venv && $(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	build/wheel-venv/bin/python -m pip install -q --disable-pip-version-check dist/pyiqa_fast-*.whl
	cd /tmp && $(abspath build/wheel-venv/bin/python) -c "import torch, pyiqa_fast; \
		from pyiqa_fast.ops import margin_ranking_loss; \
		print(pyiqa_fast.build_info()); \
		print('loss', margin_ranking_loss(torch.randn(64), torch.rand(64), backend='cpu').item())"

lint: $(VENV)/.deps
	$(PIP) install -q ruff
	$(VENV)/bin/ruff check pyiqa_fast triton_kernels tests bench

build: $(VENV)/.built

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: $(VENV)/bin/python
	$(PIP) install "$(TORCH)"
	$(PIP) install $(BUILD_DEPS) $(RUN_DEPS)
	touch $@

$(VENV)/.test-deps: $(VENV)/.deps
	$(PIP) install $(TEST_DEPS)
	touch $@

# Against the installed torch, never an isolated one (STYLE.md §12). Rebuilt when csrc changes.
$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PIP) install --no-build-isolation --no-deps -e .
	touch $@

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
