# Two entry points; each sets everything up first (idempotent, fast when already done).
#   make demo   -- the kit's main job on built-in defaults
#   make test   -- the whole test suite
VENV := .venv
export AMARANTH_USE_YOSYS := builtin

.PHONY: setup demo test bench clean
setup:
	@tools/setup.sh

demo: setup
	$(VENV)/bin/diodenet demo

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python benchmarks/solver_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
