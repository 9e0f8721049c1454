"""scripts/bench_large_values.py's per-size summary."""

from __future__ import annotations

from scripts import bench_large_values


def test_summary_counts_followers_with_the_wrong_length():
    out = bench_large_values.summarize(10, 0, 0.12345, 0.5, [10, 9], {"leader-n1": 0.1}, {"idle": True})
    assert out["follower_mismatches"] == 1 and out["set_reply_s"] == 0.123 and out["all_replicas_s"] == 0.5


def test_a_refused_set_has_no_replication_time():
    out = bench_large_values.summarize(10, 1, 0.01, None, [], {}, {"idle": True})
    assert out["errors"] == 1 and out["all_replicas_s"] is None and out["follower_mismatches"] == 0
