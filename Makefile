# Shortcuts; the scripts are the real commands (they work where make is not installed).
.PHONY: run test lint
run:
	scripts/run
lint:
	scripts/lint
test:
	scripts/test

# Benchmark (a few minutes, loopback only, never part of the tests): bench/README.md.
.PHONY: bench
bench:
	.venv/bin/python bench/run.py
