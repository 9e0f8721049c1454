"""scripts/benchlib.py: the arithmetic every benchmark figure goes through
(CPU µs per operation, idle wait, hit rate, errors, INFO and redis-benchmark parsing)."""

from __future__ import annotations

import pytest

from scripts import benchlib

BENCHMARK_CSV = '''"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","76923.08","0.471","0.064","0.287","1.303","4.559","4.631"
"GET","105263.16","0.296","0.088","0.247","0.695","0.791","0.855"
'''

INFO = "\r\n".join([
    "# Stats", "keyspace_hits:1685", "keyspace_misses:315", "",
    "# Commandstats",
    "cmdstat_set:calls=2000,usec=885,usec_per_call=0.44,rejected_calls=3,failed_calls=7",
    "cmdstat_config|get:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0",
    "cmdstat_get:calls=2000,usec=508,usec_per_call=0.25,rejected_calls=0,failed_calls=0", "",
])


def test_stat_ticks_are_utime_plus_stime_after_the_command_name():
    # field 2 may hold spaces and parentheses; utime=7, stime=5 are fields 14 and 15
    text = "1234 (raft (node) x) S 1 2 3 4 5 6 7 8 9 10 7 5 0 0 20 0 3 0 100 0 0"
    assert benchlib.parse_stat_ticks(text) == 12


def test_cpu_us_per_op():
    before, after = {"leader": 100, "follower": 40, "gone": 1}, {"leader": 150, "follower": 45}
    # 50 ticks at 100 Hz = 0.5 s over 5000 operations = 100 µs each; a vanished process is left out
    assert benchlib.cpu_us_per_op(before, after, 5000, clk_tck=100) == {"leader": 100.0, "follower": 10.0}
    assert benchlib.cpu_us_per_op(before, after, 0, clk_tck=100) == {"leader": None, "follower": None}
    assert benchlib.cpu_seconds(before, after, clk_tck=100) == {"leader": 0.5, "follower": 0.05}


class FakeTime:
    def __init__(self, busy_windows: int):
        self.now, self.ticks, self.busy_windows = 0.0, 0, busy_windows

    def sample(self, pids):
        return {name: self.ticks for name in pids}

    def sleep(self, s):
        self.now += s
        if self.busy_windows:  # a whole core for the window
            self.busy_windows -= 1
            self.ticks += int(100 * s)

    def clock(self):
        return self.now


def test_settle_waits_for_idle_and_is_bounded():
    t = FakeTime(busy_windows=3)
    got = benchlib.settle({"n1": 1}, window_s=0.5, timeout_s=30, sample=t.sample, sleep=t.sleep, clock=t.clock,
                          clk_tck=100)
    assert got == {"idle": True, "waited_s": 2.0}
    t = FakeTime(busy_windows=10**6)
    got = benchlib.settle({"n1": 1}, window_s=0.5, timeout_s=3, sample=t.sample, sleep=t.sleep, clock=t.clock,
                          clk_tck=100)
    assert got == {"idle": False, "waited_s": 3.0}


def test_hit_rate_success_rate_percentile():
    assert benchlib.hit_rate(1685, 315) == 0.8425
    assert benchlib.hit_rate(0, 0) is None
    assert benchlib.successful_rate(1000, 100, 0.5) == 1800.0  # errors are not throughput
    assert benchlib.successful_rate(10, 20, 1.0) == 0.0
    assert benchlib.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0
    assert benchlib.percentile([], 0.5) == 0.0


def test_info_and_commandstats():
    info = benchlib.parse_info(INFO)
    assert info["keyspace_hits"] == "1685" and "# Stats" not in info
    assert benchlib.command_errors(info, "SET") == 10
    assert benchlib.command_errors(info, "get") == 0
    assert benchlib.command_errors(info, "incr") == 0  # never called
    assert benchlib.command_calls(info, "get") == 2000


def test_redis_benchmark_csv():
    assert benchlib.parse_redis_benchmark_csv(BENCHMARK_CSV) == {
        "test": "GET", "rps": 105263.16, "p50_ms": 0.247, "p99_ms": 0.791}
    with pytest.raises(ValueError):
        benchlib.parse_redis_benchmark_csv("Could not connect to Redis at 127.0.0.1:1: Connection refused\n")


def test_command_line_is_relative_to_the_repository():
    argv = [benchlib.REPO + "/scripts/bench_resp.py", "--tests", "SET,GET", "--read-levels", "any lease"]
    assert benchlib.command_line(argv) == "python scripts/bench_resp.py --tests SET,GET --read-levels 'any lease'"
