"""scripts/bench_resp.py's pure parts: the redis-benchmark command line and one case's figures."""

from __future__ import annotations

import argparse

import pytest

from scripts import bench_resp


def test_benchmark_argv_sends_the_stated_value_size_over_the_populated_keyspace():
    argv = bench_resp.benchmark_argv(7000, "GET", 50, 16, 400_000, 100, 100_000)
    assert argv[argv.index("-d") + 1] == "100"
    assert argv[argv.index("-r") + 1] == "100000"
    assert argv[argv.index("-P") + 1] == "16" and argv[argv.index("-t") + 1] == "get"
    assert "--csv" in argv


def test_summarize_counts_errors_apart_and_measures_hits():
    parsed = {"test": "GET", "rps": 1000.0, "p50_ms": 0.5, "p99_ms": 2.0}  # 1000 requests in 1 s
    before = {"cmdstat_get": "calls=10,usec=1,usec_per_call=0.1,rejected_calls=1,failed_calls=0"}
    after = {"cmdstat_get": "calls=1010,usec=1,usec_per_call=0.1,rejected_calls=1,failed_calls=100"}
    out = bench_resp.summarize("GET", 1000, parsed, before, after, {"n1": 0}, {"n1": 50},
                               lookups=(900, 0))
    assert out["errors"] == 100 and out["ops_per_s"] == 900  # redis-benchmark said 1000/s
    assert out["calls_counted"] == 1000
    assert out["hit_rate"] == 1.0 and out["hits"] == 900
    assert out["cpu_us_per_op"]["n1"] == 50 * 1e6 / bench_resp.benchlib.CLK_TCK / 1000


def test_writes_have_no_hit_rate_and_ratio_needs_both_sides():
    parsed = {"test": "SET", "rps": 500.0, "p50_ms": 1.0, "p99_ms": 3.0}
    out = bench_resp.summarize("SET", 1000, parsed, {}, {}, {}, {})
    assert "hit_rate" not in out and out["ops_per_s"] == 500 and out["errors"] == 0
    assert bench_resp.ratio({"ops_per_s": 50}, {"ops_per_s": 200}) == 0.25
    assert bench_resp.ratio({"error": "timeout"}, {"ops_per_s": 200}) is None


def test_one_run_names_a_case_per_level_and_per_write_target():
    assert bench_resp.case_name("GET", 1, "follower", "bounded:100") == "GET -P 1 bounded:100"
    assert bench_resp.case_name("SET", 16, "leader", None) == "SET -P 16 leader"
    assert bench_resp.case_name("INCR", 1, "follower", None) == "INCR -P 1 via follower"
    assert bench_resp.writes_to("leader,follower") == ["leader", "follower"]
    with pytest.raises(argparse.ArgumentTypeError):
        bench_resp.writes_to("primary")


def test_the_eviction_case_writes_three_times_maxmemory():
    n = bench_resp.eviction_requests(16 << 20, 100)
    assert n * (100 + len("key:000000000000") + 64) <= 3 * (16 << 20) < (n + 1) * (100 + 16 + 64)
