"""scripts/bench_collections.py's pure parts: element sizes and the per-case summary."""

from __future__ import annotations

from scripts import bench_collections


def test_elements_have_the_run_value_size():
    assert len(bench_collections.elem(b"m", 12345)) == bench_collections.WIDTH[0] == 100
    assert bench_collections.elem(b"m", 7).startswith(b"m7.")


def test_summary_leaves_errors_out_of_the_latencies():
    out = bench_collections.summarize([1.0, 3.0, 2.0], errors=2)
    assert out == {"p50_ms": 2.0, "max_ms": 3.0, "writes": 3, "errors": 2}
    assert bench_collections.summarize([], errors=5)["p50_ms"] is None
