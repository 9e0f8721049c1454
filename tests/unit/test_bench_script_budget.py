"""scripts/bench_script_budget.py's in-process part: every shape loops until the apply budget
stops it, with the error a writing script gets at apply (log version 9)."""

from __future__ import annotations

from raftcache.node import commands
from scripts import bench_script_budget


def test_every_shape_is_stopped_by_the_apply_budget():
    shapes = bench_script_budget.in_process(commands.SCRIPT_BUDGET_VERSION)
    assert set(shapes) == set(bench_script_budget.SHAPES)
    for result in shapes.values():
        assert "at most 100 ms for a script that writes); its writes were rolled back" in result["reply"], result
