# Shortcuts; the scripts are the real commands (they work where make is not installed).
.PHONY: run test
run:
	scripts/run
test:
	scripts/test

# Benchmark (a few minutes, loopback only, never part of the tests): bench/README.md.
.PHONY: bench
bench:
	.venv/bin/python bench/run.py
