# Common tasks; see README.md.
PY ?= python3

.PHONY: test test-unit test-chaos bench proto up mutate

test:
	$(PY) -m pytest

test-unit:
	$(PY) -m pytest tests/unit

test-chaos:
	$(PY) -m pytest -m chaos tests/chaos

bench:
	$(PY) scripts/bench_grpc.py

proto:
	$(PY) scripts/gen_proto.py

up:
	raftcache up --nodes 3 --base-port 7000 --data-dir ./raftcache-data

mutate:
	$(PY) scripts/mutate.py
