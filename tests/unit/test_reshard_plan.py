"""`ctl rebalance`'s plan (raftcache/reshard.py plan_rebalance): even shares, few slots moved."""

from __future__ import annotations

import pytest

from raftcache import slots
from raftcache.reshard import ReshardError, plan_rebalance


def _owners(*ranges_by_shard) -> list[int]:
    owners = [0] * slots.SLOTS
    for shard, ranges in enumerate(ranges_by_shard, start=1):
        for first, last in ranges:
            owners[first:last + 1] = [shard] * (last - first + 1)
    return owners


def _apply(owners, moves) -> list[int]:
    owners = list(owners)
    for source, target, ranges in moves:
        for first, last in ranges:
            assert all(owners[s] == source for s in range(first, last + 1))
            owners[first:last + 1] = [target] * (last - first + 1)
    return owners


def test_a_new_empty_shard_gets_a_third():
    owners = _owners([(0, 8191)], [(8192, 16383)], [])
    moves = plan_rebalance(owners, [1, 2, 3])
    after = _apply(owners, moves)
    assert sorted(after.count(s) for s in (1, 2, 3)) == [5461, 5461, 5462]
    assert all(target == 3 for _, target, _ in moves), "only the new shard takes slots"
    assert sum(slots.count(r) for _, _, r in moves) == 5461


def test_balanced_is_left_alone_and_exclude_empties_a_shard():
    owners = _owners([(0, 8191)], [(8192, 16383)])
    assert plan_rebalance(owners, [1, 2]) == []
    after = _apply(owners, plan_rebalance(owners, [1, 2], exclude={2}))
    assert after.count(1) == slots.SLOTS
    with pytest.raises(ReshardError):
        plan_rebalance(owners, [1, 2], exclude={1, 2})
