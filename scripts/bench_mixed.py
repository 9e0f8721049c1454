"""Mixed read/write benchmark with redis-py, as an application runs it: raftcache's follower
at its default read level against Redis's primary + read replica, same run.

Usage: python scripts/bench_mixed.py [--workers 8] [--seconds 10] [--max-ops 200000]
           [--write-ratio 0.2] [--keys 1000] [--value-bytes 100]

Starts a three-node raftcache cluster (default settings: reads are linearizable) and a
redis-server primary with two replicas (scripts/benchrig.py). --workers processes each run
one redis-py client loop for --seconds (at most --max-ops operations each): a SET of one of
the worker's own --keys keys with probability --write-ratio, else a GET of one of them.
Each worker checks every GET against its own last SET of that key (no one else writes
it): an older value is a stale read, a read that missed the worker's own write.

Cases (one after the other, each against an idle machine):
  raftcache-follower   every command to one follower (writes are forwarded to the leader)
  redis-replica-reads  writes to the primary, reads to a replica (Redis's read-replica setup)
  redis-primary        every command to the primary (no read scaling, no stale reads)

Per case: ops/s (reads and writes apart), client-side p50 / p99 per kind, stale reads,
errors, and CPU µs per operation of every server process (from /proc). The ratios are
raftcache's ops/s over each Redis case's. Prints JSON (the load average before and
after is in it: the machine may be shared).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import bench_resp, benchlib, benchrig

CASES = ("raftcache-follower", "redis-replica-reads", "redis-primary")


class Worker:
    """One client's loop: its own keys, its last write of each, what it saw."""

    def __init__(self, worker_id: int, keys: int, write_ratio: float, value_bytes: int, seed: int):
        self.rng = random.Random(seed * 1_000_003 + worker_id)
        self.keys = [f"mixed:{seed}:{worker_id}:{i}".encode() for i in range(keys)]
        self.write_ratio = write_ratio
        self.padding = b"v" * max(value_bytes - 20, 0)
        self.written: dict[bytes, int] = {}   # key -> the sequence number of our last SET of it
        self.sequence = 0
        self.read_ms: list[float] = []
        self.write_ms: list[float] = []
        self.stale = 0
        self.errors = 0

    def next_op(self) -> tuple[str, bytes, bytes | None]:
        """("set", key, value) or ("get", key, None)."""
        key = self.rng.choice(self.keys)
        if self.rng.random() < self.write_ratio:
            self.sequence += 1
            return "set", key, b"%020d" % self.sequence + self.padding
        return "get", key, None

    def wrote(self, key: bytes, value: bytes) -> None:
        self.written[key] = int(value[:20])

    def read(self, key: bytes, value: bytes | None) -> None:
        """Check a GET's answer against our own last SET of `key`."""
        expected = self.written.get(key)
        if expected is None:
            return   # never written by us in this case: anything (nothing, an earlier case's value) goes
        seen = int(value[:20]) if value is not None and value[:20].isdigit() else -1
        if seen < expected:
            self.stale += 1

    def summary(self, seconds: float) -> dict:
        """What the worker did in `seconds` of its loop."""
        return {"reads": len(self.read_ms), "writes": len(self.write_ms), "stale_reads": self.stale,
                "errors": self.errors, "read_ms": self.read_ms, "write_ms": self.write_ms, "seconds": seconds}


def run_worker(spec: tuple) -> dict:
    """A worker process: `spec` = (id, read port, write port, seconds, max ops, keys, write ratio,
    value bytes, seed)."""
    import redis

    worker_id, read_port, write_port, seconds, max_ops, keys, write_ratio, value_bytes, seed = spec
    reader = redis.Redis(host="127.0.0.1", port=read_port, socket_timeout=10)
    writer = reader if write_port == read_port else redis.Redis(host="127.0.0.1", port=write_port, socket_timeout=10)
    worker = Worker(worker_id, keys, write_ratio, value_bytes, seed)
    clock = time.perf_counter
    started_loop = clock()
    deadline = started_loop + seconds
    for _ in range(max_ops):
        if clock() >= deadline:
            break
        kind, key, value = worker.next_op()
        started = clock()
        try:
            if kind == "set":
                writer.set(key, value)
                worker.write_ms.append((clock() - started) * 1000)
                worker.wrote(key, value)
            else:
                got = reader.get(key)
                worker.read_ms.append((clock() - started) * 1000)
                worker.read(key, got)
        except redis.RedisError:
            worker.errors += 1
    return worker.summary(clock() - started_loop)


def _rate(summaries: list[dict], kinds: tuple[str, ...]) -> int:
    """Operations per second of all workers together: each worker's count over its own loop time
    (process start-up is not counted)."""
    return round(sum(sum(s[k] for k in kinds) / s["seconds"] for s in summaries if s["seconds"] > 0))


def combine(summaries: list[dict]) -> dict:
    """The workers' results as one case's figures."""
    read_ms = sorted(x for s in summaries for x in s["read_ms"])
    write_ms = sorted(x for s in summaries for x in s["write_ms"])
    return {
        "ops_per_s": _rate(summaries, ("reads", "writes")),
        "reads_per_s": _rate(summaries, ("reads",)),
        "writes_per_s": _rate(summaries, ("writes",)),
        "read_p50_ms": round(benchlib.percentile(read_ms, 0.5), 3),
        "read_p99_ms": round(benchlib.percentile(read_ms, 0.99), 3),
        "write_p50_ms": round(benchlib.percentile(write_ms, 0.5), 3),
        "write_p99_ms": round(benchlib.percentile(write_ms, 0.99), 3),
        "stale_reads": sum(s["stale_reads"] for s in summaries),
        "errors": sum(s["errors"] for s in summaries),
        "loop_s": round(max((s["seconds"] for s in summaries), default=0.0), 2),
    }


def run_case(read_port: int, write_port: int, args, seed: int, pids: dict[str, int]) -> dict:
    idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
    specs = [(i, read_port, write_port, args.seconds, args.max_ops, args.keys, args.write_ratio,
              args.value_bytes, seed) for i in range(args.workers)]
    cpu_before = benchlib.cpu_ticks(pids)
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        summaries = pool.map(run_worker, specs)
    cpu_after = benchlib.cpu_ticks(pids)
    figures = combine(summaries)
    ops = sum(s["reads"] + s["writes"] for s in summaries)
    return {**figures, "cpu_us_per_op": benchlib.cpu_us_per_op(cpu_before, cpu_after, ops), "idle_wait": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="client processes (one redis-py client each)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each case runs")
    parser.add_argument("--max-ops", type=int, default=200_000, help="at most this many operations per worker")
    parser.add_argument("--write-ratio", type=float, default=0.2)
    parser.add_argument("--keys", type=int, default=1000, help="keys per worker")
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    args = parser.parse_args()
    if not 0 <= args.write_ratio <= 1 or args.workers < 1 or args.keys < 1:
        parser.error("--write-ratio is 0..1; --workers and --keys at least 1")
    with benchrig.Rig("bench-mixed-") as rig:
        follower = rig.followers[0].redis_address[1]
        primary, replica = rig.redis.ports[0], rig.redis.ports[1]
        ports = {"raftcache-follower": (follower, follower), "redis-replica-reads": (replica, primary),
                 "redis-primary": (primary, primary)}
        results: dict = {**rig.header(args), "processes": rig.pids, "cases": {}}
        for seed, case in enumerate(CASES):
            read_port, write_port = ports[case]
            results["cases"][case] = run_case(read_port, write_port, args, seed, rig.pids)
            print(f"{case}: {results['cases'][case]['ops_per_s']} ops/s, "
                  f"{results['cases'][case]['stale_reads']} stale reads", file=sys.stderr, flush=True)
        ours = results["cases"]["raftcache-follower"]
        results["summary"] = {"raftcache_over_redis_replica_reads": bench_resp.ratio(ours, results["cases"]["redis-replica-reads"]),
                              "raftcache_over_redis_primary": bench_resp.ratio(ours, results["cases"]["redis-primary"]),
                              "raftcache_stale_reads": ours["stale_reads"]}
        rig.report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
