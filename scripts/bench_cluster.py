"""Cluster-mode benchmark: `redis-benchmark --cluster` SET and GET on 1 shard and on 2 shards, same run.

Usage: python scripts/bench_cluster.py [--shards 1,2] [--nodes 3] [--requests 30000] [--clients 50]
           [--pipelines 1,16] [--keyspace 10000] [--value-bytes 100] [--json]

For each shard count S, starts S shards x --nodes nodes in cluster mode
(raftcache/shardedcluster.py: 1 shard is cluster mode over one Raft group, so
both sides speak the same protocol to the same client), waits until every
shard runs its log at the newest version, then per -P runs `redis-benchmark
--cluster` SET then GET (the GETs ask for the keys the SETs wrote: -r
--keyspace, hit rate measured). redis-benchmark --cluster sends each key to its
slot's master, i.e. each shard's leader; it refuses a cluster of one master
("Invalid cluster"), so with 1 shard the same requests go to that shard's
leader without --cluster (every slot is its own). Per case: ops/s counting successful
replies only (errors from INFO commandstats of every node), p50/p99, the GET
hit rate (keyspace_hits/misses deltas of every node), CPU µs per request of
every node process, the idle wait and the command line. Prints JSON (--json is
accepted for uniformity). Every process shares the machine's cores: on a
2-core box, 2 shards (6 node processes) cannot be twice 1 shard; see
docs/performance.md "Cluster mode" for the scaling model.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from raftcache.node import commands
from raftcache.shardedcluster import ShardedCluster
from scripts import benchlib
from scripts.bench_resp import info, lookup_counts, summarize

TESTS = ("SET", "GET")


def cluster_benchmark_argv(port: int, test: str, clients: int, pipeline: int, requests: int, value_bytes: int,
                           keyspace: int, cluster: bool = True) -> list[str]:
    """The `redis-benchmark --cluster` command line of one case (seeded from one node); without
    `cluster`, the plain command line (one master: redis-benchmark refuses --cluster)."""
    return ["redis-benchmark", *(["--cluster"] if cluster else []), "-h", "127.0.0.1", "-p", str(port),
            "-c", str(clients),
            "-P", str(pipeline), "-n", str(requests), "-r", str(keyspace), "-d", str(value_bytes), "--csv", "-q",
            "-t", test.lower()]


def merged_commandstats(infos: list[dict[str, str]]) -> dict[str, str]:
    """INFO commandstats of several nodes as one: calls, failed_calls and rejected_calls summed per command."""
    totals: dict[str, dict[str, int]] = {}
    for one in infos:
        for name, value in one.items():
            if not name.startswith("cmdstat_"):
                continue
            fields = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
            into = totals.setdefault(name, {"calls": 0, "failed_calls": 0, "rejected_calls": 0})
            for field in into:
                into[field] += int(float(fields.get(field, 0)))
    return {name: ",".join(f"{k}={v}" for k, v in fields.items()) for name, fields in totals.items()}


def csv_part(stdout: str) -> str:
    """redis-benchmark --cluster prints the masters it found before its CSV: the CSV from its header on."""
    start = stdout.find('"test"')
    return stdout[start:] if start >= 0 else stdout


def run_case(ports: list[int], seed: int, test: str, args, pipeline: int, requests: int, pids: dict[str, int],
             cluster: bool) -> dict:
    idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
    argv = cluster_benchmark_argv(seed, test, args.clients, pipeline, requests, args.value_bytes, args.keyspace,
                                  cluster)
    before = merged_commandstats([info(p) for p in ports])
    lookups_before, cpu_before = lookup_counts(ports), benchlib.cpu_ticks(pids)
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=args.case_timeout)
        parsed = benchlib.parse_redis_benchmark_csv(csv_part(run.stdout))
    except subprocess.TimeoutExpired as e:
        return {"error": str(e)[-300:], "command": shlex.join(argv), "idle_wait": idle}
    except ValueError as e:
        return {"error": f"{e} {run.stderr[-300:]}", "command": shlex.join(argv), "idle_wait": idle}
    cpu_after, after, lookups_after = benchlib.cpu_ticks(pids), merged_commandstats([info(p) for p in ports]), \
        lookup_counts(ports)
    lookups = (lookups_after[0] - lookups_before[0], lookups_after[1] - lookups_before[1])
    result = summarize(test, requests, parsed, before, after, cpu_before, cpu_after, lookups)
    result.update(command=shlex.join(argv), idle_wait=idle)
    return result


def bench_shards(shards: int, args) -> dict:
    root = tempfile.mkdtemp(prefix=f"raftcache-bench-cluster-{shards}-")
    cluster = ShardedCluster(root, shards, args.nodes)
    try:
        cluster.start(timeout_s=120)
        cluster.wait_log_version(commands.MAX_VERSION, timeout_s=60)
        leaders = cluster.leaders()
        pids = {f"s{cluster.shard_of(n)}-{'leader' if n in leaders else 'follower'}-{n.id}": n.pid
                for n in cluster.nodes}
        ports = [n.redis_address[1] for n in cluster.nodes]
        cases: dict = {}
        for pipeline in args.pipelines:
            n = args.requests * (4 if pipeline > 1 else 1)
            for test in TESTS:
                name = f"{test} -P {pipeline}"
                seed = (leaders[0] if shards == 1 else cluster.nodes[0]).redis_address[1]
                cases[name] = run_case(ports, seed, test, args, pipeline, n, pids, cluster=shards > 1)
                print(f"{shards} shard(s) {name}: {cases[name].get('ops_per_s')} ops/s", file=sys.stderr, flush=True)
        return {"shards": shards, "nodes_per_shard": args.nodes, "processes": pids, "cases": cases}
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--nodes", type=int, default=3, help="nodes per shard")
    parser.add_argument("--requests", type=int, default=30_000, help="per case at -P 1 (x4 when pipelined)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--keyspace", type=int, default=10_000, help="redis-benchmark -r")
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--case-timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args(argv)
    if shutil.which("redis-benchmark") is None:
        print("bench_cluster: redis-benchmark is not installed", file=sys.stderr)
        return 2
    started = time.time()
    results = {
        "command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "cpus": os.cpu_count(),
        "runs": [bench_shards(s, args) for s in args.shards],
    }
    base = results["runs"][0]["cases"]
    for run in results["runs"][1:]:
        run["speedup_vs_first"] = {name: round(case["ops_per_s"] / base[name]["ops_per_s"], 2)
                                   for name, case in run["cases"].items()
                                   if case.get("ops_per_s") and base.get(name, {}).get("ops_per_s")}
    results["elapsed_s"] = round(time.time() - started, 1)
    results["loadavg_1m_end"] = benchlib.load_average()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
