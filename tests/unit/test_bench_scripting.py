"""scripts/bench_scripting.py's pure parts: the redis-benchmark command lines of its two cases."""

from __future__ import annotations

import hashlib

from scripts import bench_scripting


def test_evalsha_case_sends_the_loaded_script_over_random_keys():
    argv = bench_scripting.benchmark_argv(7000, "EVALSHA", 50, 16, 1000, 10_000)
    assert bench_scripting.SHA == hashlib.sha1(bench_scripting.SCRIPT.encode()).hexdigest()
    assert argv[-5:] == ["EVALSHA", bench_scripting.SHA, "1", "key:__rand_int__", "1"]
    assert argv[argv.index("-r") + 1] == "10000" and argv[argv.index("-P") + 1] == "16"
    assert "INCRBY" in bench_scripting.SCRIPT and "EXPIRE" in bench_scripting.SCRIPT


def test_incr_case_is_redis_benchmarks_own():
    argv = bench_scripting.benchmark_argv(7000, "INCR", 50, 1, 1000, 10_000)
    assert argv[-2:] == ["-t", "incr"] and "--csv" in argv


def test_the_ratio_is_the_median_of_the_rounds_and_a_failed_round_is_left_out():
    assert bench_scripting.median([0.46, 0.56, 0.55]) == 0.55
    assert bench_scripting.median([0.5, None, 0.6]) == 0.55
    assert bench_scripting.median([None]) is None


def test_a_case_reports_the_run_of_its_median_round():
    runs = [{"ops_per_s": 3000, "p50_ms": 1}, {"error": "timeout"}, {"ops_per_s": 2000, "p50_ms": 2},
            {"ops_per_s": 4000, "p50_ms": 3}]
    assert bench_scripting.median_round(runs)["ops_per_s"] == 3000
    assert bench_scripting.median_round(runs[:2])["ops_per_s"] == 3000
    assert bench_scripting.median_round([{"error": "timeout"}]) == {"error": "timeout"}
