# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create the virtualenv (.venv) and install the pinned dependencies first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-out

.PHONY: venv test test-fast demo demo-build lint clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"

# The whole path on the bundled sample: corpus -> vocabulary -> token shards -> a short CPU FSDP run -> loss curve
# -> a generated sample. `make demo-build` stops after the corpus.
demo: demo-build
	$(BIN)/jpcorpus tokenizer train --input ja=$(DEMO_OUT)/shards --output $(DEMO_OUT)/vocab/demo4k --vocab-size 4000
	$(BIN)/jpcorpus tokenize --input $(DEMO_OUT) --tokenizer $(DEMO_OUT)/vocab/demo4k.model \
		--output $(DEMO_OUT)/tokens --val-fraction 0.1
	OMP_NUM_THREADS=1 $(BIN)/torchrun --standalone --nproc_per_node=2 -m jpcorpus train --config configs/train_debug.toml \
		--set data.tokens_dir='"$(DEMO_OUT)/tokens"' --set run.output_dir='"$(DEMO_OUT)/train"' --set model.vocab_size=4000
	$(BIN)/jpcorpus plot-loss --run $(DEMO_OUT)/train
	$(BIN)/jpcorpus generate --checkpoint $(DEMO_OUT)/train/checkpoints/step-00000040 --prompt "日本の首都は" \
		--max-new-tokens 32

demo-build: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/jpcorpus build --input demo/sample --output $(DEMO_OUT) --config configs/build_default.toml --runner=FnApiRunner

# Debian's chromium for tests/test_serve.py's browser test (Playwright drives it; `playwright install` never runs).
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
