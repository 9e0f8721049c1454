"""Chaos during a reshard (marker `chaos`, `make test-chaos`): 2 shards x 3 nodes, redis-py's
RedisCluster writing, `ctl reshard` moving slots, and zone a -- one member of every shard, the
leaders among them when the draw puts them there -- killed with SIGKILL mid-move. The move must
finish (the mover goes on with the new leaders, or is run again), every acknowledged write must
read back with its last value, every acknowledged INCR of the SDK (retrying through the kill) must
count once, and the old shard must keep no copy of a moved key.

The check is the writer's own record of what was acknowledged (tests/integration/
test_resharding.py Writer), not scripts/chaos/checker.py's history: this run is about keys
crossing shards, which that checker does not model.
"""

from __future__ import annotations

import pytest

from raftcache.node import commands
from raftcache.shardedcluster import ShardedCluster
from tests.integration.test_resharding import (
    Counters, Writer, _ctl, _dbsize, _keys_in, _left_in, _mover, _owner, _rc, _wait_copying,
)


@pytest.mark.chaos
def test_a_zone_dies_during_a_reshard(tmp_path):
    sharded = ShardedCluster(str(tmp_path / "chaos-reshard"), 2, 3)
    try:
        sharded.start(timeout_s=90)
        sharded.wait_log_version(commands.RESHARD_DEDUP_VERSION, timeout_s=60)
        first, last = 1000, 1199
        keys = _keys_in(first, last, 1000, "zone") + _keys_in(9000, 9100, 100, "stay")
        with _rc(sharded) as rc:
            for key in keys:
                rc.set(key, "seed")
            before = _dbsize(sharded, 2)
            counters = Counters(sharded, _keys_in(first, last, 30, "count"), max_s=240)
            with Writer(sharded, keys, max_s=240, seeded="seed") as writer, counters:
                counters.wait_acked(30)
                mover = _mover(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2", "--batch", "10")
                try:
                    _wait_copying(sharded, 1, before, 2, mover)
                    for shard in sharded.shards:
                        shard.kill_zone("a")
                    out, _ = mover.communicate(timeout=300)
                finally:
                    if mover.poll() is None:
                        mover.kill()
                        mover.wait(30)
                if mover.returncode != 0:
                    again = _ctl(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2", timeout_s=300)
                    assert again.returncode == 0, out + again.stdout + again.stderr
                writer.wait_writes(100, timeout_s=120)
                counters.wait_acked(30, timeout_s=120)
        with _rc(sharded) as rc:
            writer.check(rc)
            counters.check(rc)   # the SDK's INCRs: none lost, none applied twice
        assert _owner(sharded, first) == 2 and _owner(sharded, last) == 2
        assert _left_in(sharded, 1, first, last) == []
    finally:
        sharded.close()
