# Common tasks; see README.md.
PY ?= python3

.PHONY: test test-unit test-slow test-chaos bench proto up mutate power-cut

test:
	$(PY) -m pytest

test-unit:
	$(PY) -m pytest tests/unit

test-slow:
	$(PY) -m pytest -m slow

# One run at a time (-n 0): the chaos runs measure timing (leases, staleness bounds).
test-chaos:
	$(PY) -m pytest -n 0 -m chaos tests/chaos

bench:
	$(PY) scripts/bench_grpc.py

proto:
	$(PY) scripts/gen_proto.py

up:
	raftcache up --nodes 3 --base-port 7000 --data-dir ./raftcache-data

mutate:
	$(PY) scripts/mutate.py

# Repeated power cuts of a whole cluster on a file system that drops unsynced
# data (needs FUSE; docs/durability.md "Power cuts").
power-cut:
	$(PY) scripts/power_cut.py --appendfsync always --strict-metadata --runs 5
	$(PY) scripts/power_cut.py --appendfsync everysec --strict-metadata --runs 5
