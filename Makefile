# make demo: set up .venv and run fit -> apply -> invert on sample_data/
# make test: set up .venv with the test extras and run the whole suite
# make bench: benchmark against the alternatives (writes bench/RESULTS.md);
#             BENCH_ARGS="--quick" for a smoke run, "--large" adds 10M rows

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT := build/demo

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

demo: $(VENV)/.installed
	@mkdir -p $(OUT)
	$(BIN)/normcli fit sample_data/weather.csv -m zscore -p $(OUT)/weather.normcli.json
	$(BIN)/normcli show $(OUT)/weather.normcli.json
	$(BIN)/normcli apply sample_data/weather.csv -p $(OUT)/weather.normcli.json -o $(OUT)/scaled.csv
	@head -n 4 $(OUT)/scaled.csv
	$(BIN)/normcli invert $(OUT)/scaled.csv -p $(OUT)/weather.normcli.json -o $(OUT)/back.csv
	$(BIN)/normcli apply sample_data/weather.parquet -p $(OUT)/weather.normcli.json -o $(OUT)/scaled.parquet
	$(BIN)/normcli invert $(OUT)/scaled.parquet -o $(OUT)/back.parquet
	$(BIN)/python -c "import pyarrow.parquet as pq, sys; a = pq.read_table('sample_data/weather.parquet'); b = pq.read_table('$(OUT)/back.parquet'); sys.exit(0 if a.equals(b) and a.schema.equals(b.schema) else 'Parquet round trip differs')"
	@echo "invert gave back the same data: sample_data/weather.parquet == $(OUT)/back.parquet"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache
