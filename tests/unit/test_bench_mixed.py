"""scripts/bench_mixed.py's pure parts: a worker's operations, its stale-read check, the case figures."""

from __future__ import annotations

from scripts import bench_mixed


def test_a_worker_writes_its_own_keys_at_the_ratio_asked():
    worker = bench_mixed.Worker(3, keys=10, write_ratio=0.25, value_bytes=100, seed=7)
    ops = [worker.next_op() for _ in range(4000)]
    writes = [op for op in ops if op[0] == "set"]
    assert 0.2 < len(writes) / len(ops) < 0.3
    assert {key for _, key, _ in ops} <= set(worker.keys) and len(worker.keys) == 10
    assert all(len(value) == 100 for _, _, value in writes)
    assert bench_mixed.Worker(4, 10, 0.25, 100, 7).keys[0] != worker.keys[0]   # workers never share a key


def test_a_read_older_than_the_workers_own_write_is_stale():
    worker = bench_mixed.Worker(0, keys=2, write_ratio=1.0, value_bytes=30, seed=1)
    _, key, first = worker.next_op()
    worker.wrote(key, first)
    worker.read(key, first)           # what we wrote: fine
    _, _, second = worker.next_op()
    worker.wrote(key, second)
    worker.read(key, first)           # the earlier value: stale
    worker.read(key, None)            # gone: stale
    worker.read(key, second)
    worker.read(worker.keys[1] if worker.keys[1] != key else worker.keys[0], b"anything")   # never written by us
    assert worker.stale == 2


def test_case_figures_count_each_worker_over_its_own_loop():
    summaries = [{"reads": 80, "writes": 20, "stale_reads": 1, "errors": 0, "read_ms": [1.0] * 80,
                  "write_ms": [3.0] * 20, "seconds": 2.0},
                 {"reads": 40, "writes": 10, "stale_reads": 0, "errors": 2, "read_ms": [2.0] * 40,
                  "write_ms": [4.0] * 10, "seconds": 1.0}]
    figures = bench_mixed.combine(summaries)
    assert figures["ops_per_s"] == 100 and figures["reads_per_s"] == 80 and figures["writes_per_s"] == 20
    assert figures["read_p50_ms"] == 1.0 and figures["write_p99_ms"] == 4.0
    assert figures["stale_reads"] == 1 and figures["errors"] == 2 and figures["loop_s"] == 2.0
