"""What TLS costs: redis-benchmark with and without --tls, against raftcache and redis-server, same run.

Usage: python scripts/bench_tls.py [--requests 100000] [--clients 50] [--pipelines 1,16]
           [--tests SET,GET] [--value-bytes 100] [--keyspace 10000] [--json]

Makes a throwaway CA and certificates (raftcache/certs.py), then measures, one
after the other on 127.0.0.1:

- a three-node raftcache cluster in plaintext, then the same cluster layout
  with TLS (`--tls-cert-file …`, client certificates not asked for: as
  `raftcache up --tls`, whose clients give only the CA): SET against the
  leader, GET against a follower at read level `any`;
- one redis-server (no persistence) listening on a plaintext port and a
  `--tls-port` with the same certificate.

Every GET key is written first. Per case: ops/s (redis-benchmark's rps), p50
and p99, CPU µs per operation of each process, and the idle wait before it
(scripts/benchlib.settle). `--raft` measures only what mutual TLS on the Raft
port costs: two TLS clusters, `--tls-replication no` then `yes`. Then, per test
and pipeline depth, raftcache/Redis without TLS, the same with TLS, and the
target of docs/performance.md "TLS": TLS may cost raftcache no more than it
costs Redis in relative terms, i.e. (ratio with TLS) >= 0.8 x (ratio
without). Prints JSON. Uses the cases' redis-benchmark's own CSV (`--csv`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from raftcache.localcluster import LocalCluster, free_base_port, wait_until
from scripts import benchlib
from scripts.bench_resp import TESTS, benchmark_argv

#: The target of docs/performance.md: (raftcache/Redis with TLS) >= TARGET x (raftcache/Redis without).
TARGET = 0.8


def tls_argv(argv: list[str], ca: str) -> list[str]:
    """A redis-benchmark / redis-cli command line over TLS (the CA only, no client certificate)."""
    return [argv[0], "--tls", "--cacert", ca, *argv[1:]]


def redis_client(port: int, ca: str | None):
    import redis

    return redis.Redis("127.0.0.1", port, socket_timeout=120, **({"ssl": True, "ssl_ca_certs": ca} if ca else {}))


def populate(port: int, ca: str | None, keyspace: int, value_bytes: int, batch: int = 1000) -> None:
    """SET every key redis-benchmark's GET can ask for (key:%012d)."""
    client = redis_client(port, ca)
    value = b"v" * value_bytes
    for start in range(0, keyspace, batch):
        client.mset({b"key:%012d" % i: value for i in range(start, min(start + batch, keyspace))})
    client.close()


def run_case(port: int, ca: str | None, test: str, args, pipeline: int, pids: dict[str, int]) -> dict:
    idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
    argv = benchmark_argv(port, test, args.clients, pipeline, args.requests, args.value_bytes, args.keyspace)
    if ca:
        argv = tls_argv(argv, ca)
    before = benchlib.cpu_ticks(pids)
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=args.case_timeout)
        parsed = benchlib.parse_redis_benchmark_csv(run.stdout)
    except (subprocess.TimeoutExpired, ValueError) as e:
        return {"error": str(e)[-300:], "command": shlex.join(argv), "idle_wait": idle}
    return {"ops_per_s": round(parsed["rps"]), "p50_ms": parsed["p50_ms"], "p99_ms": parsed["p99_ms"],
            "cpu_us_per_op": benchlib.cpu_us_per_op(before, benchlib.cpu_ticks(pids), args.requests),
            "command": shlex.join(argv), "idle_wait": idle}


def ratios(cases: dict) -> dict:
    """Per test and depth: raftcache/Redis without and with TLS, and whether the target holds."""
    out = {}
    for key, row in cases.items():
        try:
            plain = row["raftcache"]["plain"]["ops_per_s"] / row["redis"]["plain"]["ops_per_s"]
            tls = row["raftcache"]["tls"]["ops_per_s"] / row["redis"]["tls"]["ops_per_s"]
        except (KeyError, ZeroDivisionError):
            out[key] = {"error": "a case failed"}
            continue
        out[key] = {"ratio_plain": round(plain, 3), "ratio_tls": round(tls, 3),
                    "tls_vs_plain": round(tls / plain, 3), "target": TARGET, "met": tls >= TARGET * plain}
    return out


def measure_raftcache(cluster: LocalCluster, args, pipelines, tests) -> dict:
    """Every case against a started cluster (closed after): SET on the leader, GET on a follower at `any`."""
    ca = cluster.tls.ca if cluster.tls else None
    try:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        pids = {n.id: n.pid for n in cluster.nodes}
        leader_port, follower_port = leader.peer.port("redis"), follower.peer.port("redis")
        redis_client(leader_port, ca).config_set("raftcache-default-read", "any")
        populate(leader_port, ca, args.keyspace, args.value_bytes)
        wait_until(lambda: redis_client(follower_port, ca).dbsize() >= args.keyspace, 60, "the follower to catch up")
        out = {}
        for test in tests:
            port = follower_port if test == "GET" else leader_port
            for pipeline in pipelines:
                out[f"{test} -P {pipeline}"] = run_case(port, ca, test, args, pipeline, pids)
        return out
    finally:
        cluster.close()


def measure_redis(root: str, pairs: dict, args, pipelines, tests) -> dict:
    port, tls_port = free_base_port(), free_base_port()
    argv = ["redis-server", "--port", str(port), "--tls-port", str(tls_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", root, "--tls-cert-file", pairs["n1"].cert,
            "--tls-key-file", pairs["n1"].key, "--tls-ca-cert-file", pairs["ca"].cert, "--tls-auth-clients", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: redis_client(port, None).ping(), 20, "redis-server")
        populate(port, None, args.keyspace, args.value_bytes)
        out: dict = {"plain": {}, "tls": {}}
        for test in tests:
            for pipeline in pipelines:
                for mode, p, ca in (("plain", port, None), ("tls", tls_port, pairs["ca"].cert)):
                    out[mode][f"{test} -P {pipeline}"] = run_case(p, ca, test, args, pipeline, {"redis": proc.pid})
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--tests", default="SET,GET")
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--keyspace", type=int, default=10_000)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--case-timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="(always JSON)")
    parser.add_argument("--raft", action="store_true",
                        help="only what mutual TLS on the Raft port costs: TLS clusters with --tls-replication no "
                        "and yes, same cases, CPU µs per operation of each node")
    parser.add_argument("--raft-order", default="no,yes", help="with --raft: the order of the two clusters")
    args = parser.parse_args()
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = [t.strip().upper() for t in args.tests.split(",")]
    unknown = set(tests) - set(TESTS)
    if unknown:
        parser.error(f"unknown tests {sorted(unknown)}")
    root = tempfile.mkdtemp(prefix="bench-tls-")
    started = time.time()
    if args.raft:
        out = {}
        for i, replication in enumerate(args.raft_order.split(",")):
            cluster = LocalCluster(os.path.join(root, f"raft-tls-{i}-{replication}"), 3, tls="no",
                                   extra_args=["--tls-replication", replication]).start()
            name = f"tls-replication {replication}"
            out[name if name not in out else f"{name} ({i + 1})"] = measure_raftcache(cluster, args, pipelines,
                                                                                       tests)
        print(json.dumps({"script": "bench_tls", "command": benchlib.command_line(), "started": started,
                          "load_average": benchlib.load_average(), "clients": args.clients,
                          "requests": args.requests, "value_bytes": args.value_bytes, "raft": out}, indent=2))
        return 0
    plain = LocalCluster(os.path.join(root, "plain"), 3).start()
    raftcache = {"plain": measure_raftcache(plain, args, pipelines, tests)}
    # TLS only, no client certificate asked for (as `raftcache up --tls`, whose clients give the CA alone)
    tls = LocalCluster(os.path.join(root, "tls"), 3, tls="no").start()
    pairs = tls.pairs   # redis-server gets the same CA and certificate
    raftcache["tls"] = measure_raftcache(tls, args, pipelines, tests)
    redis = measure_redis(root, pairs, args, pipelines, tests)
    cases = {key: {"raftcache": {m: raftcache[m][key] for m in raftcache}, "redis": {m: redis[m][key] for m in redis}}
             for key in raftcache["plain"]}
    print(json.dumps({"script": "bench_tls", "command": benchlib.command_line(), "started": started,
                      "load_average": benchlib.load_average(), "clients": args.clients, "requests": args.requests,
                      "value_bytes": args.value_bytes, "cases": cases, "ratios": ratios(cases)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
