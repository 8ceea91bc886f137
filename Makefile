# Shortcuts; the scripts are the real commands (they work where make is not installed).
.PHONY: run test
run:
	scripts/run
test:
	scripts/test
