"""Redis-protocol benchmark: redis-benchmark against raftcache and against Redis, same run.

Usage: python scripts/bench_resp.py [--requests 100000] [--clients 50] [--pipelines 1,16]

Starts a three-node raftcache cluster (reads at level `any` by default, the
counterpart of reading from a Redis replica) and a redis-server primary with
two replicas (appendonly yes, appendfsync everysec), all on 127.0.0.1. Runs
redis-benchmark (Debian package redis-tools) for SET, GET, INCR, LPUSH, HSET,
ZADD at -c CLIENTS with each -P: writes against raftcache's leader and Redis's
primary (or, with --writes-to follower, against a raftcache follower, which
forwards them), GET against a raftcache follower and a Redis replica. Prints one JSON
document with ops/s and p50 for both and the ratio raftcache / redis.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.cluster import Cluster, free_base_port, wait_until

# redis-benchmark's own tests: LPUSH grows one list, HSET and ZADD add random
# fields/members to one hash / sorted set (collections past 128 elements are
# stored one record per element, so a write costs the same at any size).
TESTS = {
    "SET": ["-t", "set"],
    "GET": ["-t", "get"],
    "INCR": ["-t", "incr"],
    "LPUSH": ["-t", "lpush"],
    "HSET": ["-t", "hset"],
    "ZADD": ["-t", "zadd"],
}
READS = {"GET"}


def redis_benchmark(port: int, test: str, clients: int, pipeline: int, requests: int, timeout_s: float) -> dict:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(requests), "-r", "100000", "--csv", "-q"]
    argv += TESTS[test]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout_s:.0f}s"}
    if run.returncode != 0:
        return {"error": (run.stderr or run.stdout).strip()[-300:]}
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    row = rows[-1]
    return {"ops_per_s": round(float(row["rps"])), "p50_ms": float(row["p50_latency_ms"])}


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            pass
    return total


def settle(pids: list[int], timeout_s: float = 60.0) -> None:
    """Wait until the processes are near idle: a test must not measure the last
    one's aftermath (raftcache compacts its log and writes a snapshot in the
    background after many writes)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < 0.05 * len(pids):
            return


class RedisTrio:
    """A redis-server primary and two replicas, appendonly everysec, in a temp dir."""

    def __init__(self, root: str):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.ports = [free_base_port() for _ in range(3)]

    def start(self) -> "RedisTrio":
        for i, port in enumerate(self.ports):
            d = os.path.join(self.root, f"redis{i}")
            os.makedirs(d)
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no"]
            if i:
                argv += ["--replicaof", "127.0.0.1", str(self.ports[0])]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports[1:]:
            wait_until(lambda: b"master_link_status:up" in subprocess.run(
                ["redis-cli", "-p", str(port), "info", "replication"], capture_output=True).stdout, 20,
                f"redis replica {port} to sync")
        return self

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000,
                        help="requests per test at -P 1 (x4 for larger -P); short runs weigh connection set-up in")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--tests", type=lambda s: s.upper().split(","), default=list(TESTS))
    parser.add_argument("--read-level", default="any", help="raftcache's default read level for GET")
    parser.add_argument("--writes-to", choices=("leader", "follower"), default="leader",
                        help="the raftcache node that takes the writes (a follower forwards them to the leader)")
    args = parser.parse_args()
    if not shutil.which("redis-benchmark") or not shutil.which("redis-server"):
        print("needs redis-benchmark and redis-server: apt-get install redis-tools redis-server", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="bench-resp-")
    cluster = Cluster(os.path.join(root, "raftcache"), 3, extra_args=["--default-read", args.read_level])
    redis = RedisTrio(root)
    try:
        cluster.start()
        redis.start()
        leader = cluster.leader()
        follower = cluster.followers()[0]
        results: dict = {"clients": args.clients, "raftcache_read_level": args.read_level, "cases": {}}
        for pipeline in args.pipelines:
            n = args.requests * (4 if pipeline > 1 else 1)
            for test in args.tests:
                writer = leader if args.writes_to == "leader" else follower
                ours_port = follower.redis_address[1] if test in READS else writer.redis_address[1]
                theirs_port = redis.ports[1] if test in READS else redis.ports[0]
                settle([node.pid for node in cluster.alive_nodes()] + [p.pid for p in redis.procs])
                ours = redis_benchmark(ours_port, test, args.clients, pipeline, n, 300)
                settle([node.pid for node in cluster.alive_nodes()] + [p.pid for p in redis.procs])
                theirs = redis_benchmark(theirs_port, test, args.clients, pipeline, n, 300)
                results["cases"][f"{test} -P {pipeline}"] = {
                    "raftcache": ours,
                    "redis": theirs,
                    "ratio": round(ours["ops_per_s"] / max(theirs["ops_per_s"], 1), 3)
                    if "ops_per_s" in ours and "ops_per_s" in theirs else None,
                    "raftcache_node": "follower" if test in READS else args.writes_to,
                }
        print(json.dumps(results, indent=2))
    finally:
        cluster.close()
        redis.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
