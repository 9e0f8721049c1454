"""scripts/bench_replication.py's pure parts: the committed rate and the lone-proposal loop (a fake Replicator)."""

from __future__ import annotations

from raftcache.node.errors import NotLeaderError
from scripts import bench_replication


def test_committed_rate_excludes_failed_proposals():
    assert bench_replication.committed_rate({"ok": 900, "errors": 100, "elapsed_s": 0.5}) == 1800.0


class FakeReplicator:
    """Commits at once; every third proposal fails."""

    def __init__(self):
        self.n = 0

    def propose(self, data, callback):
        self.n += 1
        callback(None, self.n, NotLeaderError("x") if self.n % 3 == 0 else None)


def test_one_at_a_time_counts_failures_apart():
    out = bench_replication.one_at_a_time(FakeReplicator(), 9, b"x")
    assert out["ok"] == 6 and out["errors"] == 3 and out["p50_ms"] >= 0


def test_keep_in_flight_stops_on_errors():
    out = bench_replication.keep_in_flight(FakeReplicator(), in_flight=1, duration_s=0.5, data=b"x")
    assert out["ok"] == 2 and out["errors"] == 1  # the failed third proposal ends its chain
