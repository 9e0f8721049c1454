"""scripts/bench_cluster.py's pure parts: its command lines and the merged INFO commandstats."""

from __future__ import annotations

from scripts import bench_cluster, benchlib


def test_cluster_and_single_master_command_lines():
    argv = bench_cluster.cluster_benchmark_argv(7001, "GET", 50, 16, 1000, 100, 10_000)
    assert argv[:2] == ["redis-benchmark", "--cluster"] and argv[argv.index("-t") + 1] == "get"
    assert argv[argv.index("-r") + 1] == "10000" and "--csv" in argv
    assert "--cluster" not in bench_cluster.cluster_benchmark_argv(7001, "SET", 50, 1, 1000, 100, 10, cluster=False)


def test_the_csv_after_the_masters_preamble_parses():
    out = ('Cluster has 2 master nodes:\n\nMaster 0: abc 127.0.0.1:7001\n\n'
           '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",'
           '"max_latency_ms"\n"SET","5964.21","4.661","1.984","4.359","7.799","10.223","16.383"\n')
    parsed = benchlib.parse_redis_benchmark_csv(bench_cluster.csv_part(out))
    assert parsed["rps"] == 5964.21 and parsed["p99_ms"] == 10.223


def test_commandstats_of_every_node_are_summed():
    one = {"cmdstat_set": "calls=10,usec=5,usec_per_call=0.5,rejected_calls=1,failed_calls=2", "role": "master"}
    two = {"cmdstat_set": "calls=5,usec=1,usec_per_call=0.2,rejected_calls=0,failed_calls=1"}
    merged = bench_cluster.merged_commandstats([one, two])
    assert benchlib.command_calls(merged, "set") == 15 and benchlib.command_errors(merged, "set") == 4
