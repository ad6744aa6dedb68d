# Two commands for a newcomer: `make run` and `make test`. Both (re)create .venv when
# requirements.txt is newer than the last install. `make run REPLICAS=4` serves a larger class:
# 4 web processes behind Caddy on PORT, sharing one Dask scheduler and worker (ui/replicas/).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
REPLICAS ?= 1
ifneq ($(filter-out 0 1,$(REPLICAS)),)
SERVE := $(PY) -m ui.replicas --replicas $(REPLICAS) --port $(PORT)
else
SERVE := $(PY) -m ui.server --server.port $(PORT)
endif

.PHONY: run test bench clean

# Modules the benchmarks import, not benchmarks themselves.
BENCH_HELPERS := bench/appserver.py bench/streamlit_client.py bench/collapsed.py

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own malloc arena (up to 8 per core), and torch's
# buffers freed on other threads left the web process growing from 3.6 to 5.9 GiB over three 5-minute classes of 60;
# with two arenas it stayed at 3.8 GiB, and as fast (bench/classroom.py --env MALLOC_ARENA_MAX=2, issue 17).
# MALLOC_MMAP_THRESHOLD_=1 MiB: past it, glibc maps each block on its own and returns it when freed. By default the
# threshold rises to the largest block freed so far (up to 32 MiB), so the feature maps and models of a class then
# came from the heap and stayed there: 30 students peaked at 3.7-4.3 GiB (PSS, all processes), and at 2.7-2.8 GiB with it.
# MALLOC_TOP_PAD_=32 MiB: glibc then keeps 32 MiB free at the top of each heap instead of returning every freed page at
# once, which made a click's tensors page-fault afresh each time (the cheap attribution maps: 38,000 faults and 128 ms
# of CPU, against none and 84 ms). With it, the web process returns its free heap pages every 5 s instead
# (`ui.server.trim_memory`); 30 students then peaked at 2.5 GiB.
MALLOC := MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} MALLOC_MMAP_THRESHOLD_=$${MALLOC_MMAP_THRESHOLD_:-1048576} \
	MALLOC_TOP_PAD_=$${MALLOC_TOP_PAD_:-33554432}
run: $(STAMP)
	CNN_EXPLORER_OFFLINE=$${CNN_EXPLORER_OFFLINE:-1} $(MALLOC) $(SERVE)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	@mkdir -p bench/results; for script in $(filter-out $(BENCH_HELPERS),$(wildcard bench/*.py)); do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache tests/e2e/screenshots
