"""scripts/bench_apply.py's per-operation arithmetic (bench_large_values' is benchlib.cpu_seconds)."""

from __future__ import annotations

from scripts import bench_apply


def test_per_op_us():
    assert bench_apply.per_op_us(0.25, 10_000) == 25.0
    assert bench_apply.per_op_us(1.0, 0) is None
