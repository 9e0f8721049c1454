#!/usr/bin/env python3
"""Single-write latency on one large collection: raftcache vs a redis-server primary.

For each type (hash, set, list, sorted set) and each size, fills one key to
that many elements with pipelined batches, then times `--writes` single
writes to it (HSET of a new field, SADD, LPUSH, ZADD of a new member),
one at a time through redis-py, against a raftcache three-node cluster's
leader and, in the same run, a redis-server primary with two replicas
(appendonly everysec). Hash values, list elements and set / sorted-set
members are --value-bytes long (100 by default). The script only writes,
so there is no hit rate to report. A write that gets an error reply is
counted in `errors` and left out of the latencies. Before each timed run it
waits until every raftcache and redis-server process is idle; it reports the
CPU µs per timed write of each of them (/proc/PID/stat). Prints one JSON
object (always; --json is accepted for uniformity):

    {"command": "python scripts/bench_collections.py …", "sizes": [...],
     "cases": {"hash 10000": {"raftcache": {"p50_ms": …, "errors": 0, "cpu_us_per_op": {…}, …},
                              "redis": {…}}, …}}

    python scripts/bench_collections.py [--sizes 1000,10000,100000] [--writes 200]

Needs redis-server (apt-get install redis-server) for the comparison peer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import redis

from scripts import benchlib, benchrig

BATCH = 1000

#: The --value-bytes of the run (set in main): element i's bytes, padded.
WIDTH = [100]


def elem(prefix: bytes, i: int) -> bytes:
    """Element (field value, list element, member) `prefix``i`, padded with '.' to the run's value size."""
    return (prefix + b"%d" % i).ljust(WIDTH[0], b".")


#: type -> (fill one batch of elements [i, i+n), one write of element i)
CASES = {
    "hash": (lambda p, k, i, n: p.hset(k, mapping={b"f%d" % j: elem(b"v", j) for j in range(i, i + n)}),
             lambda r, k, i: r.hset(k, b"new%d" % i, elem(b"v", i))),
    "set": (lambda p, k, i, n: p.sadd(k, *[elem(b"m", j) for j in range(i, i + n)]),
            lambda r, k, i: r.sadd(k, elem(b"new", i))),
    "list": (lambda p, k, i, n: p.rpush(k, *[elem(b"e", j) for j in range(i, i + n)]),
             lambda r, k, i: r.lpush(k, elem(b"new", i))),
    "zset": (lambda p, k, i, n: p.zadd(k, {elem(b"m", j): j for j in range(i, i + n)}),
             lambda r, k, i: r.zadd(k, {elem(b"new", i): -i})),
}


def summarize(times_ms: list[float], errors: int) -> dict:
    """p50 / max of the successful writes (ms) and the error count."""
    return {"p50_ms": round(statistics.median(times_ms), 3) if times_ms else None,
            "max_ms": round(max(times_ms), 3) if times_ms else None,
            "writes": len(times_ms), "errors": errors}


def measure(client: redis.Redis, kind: str, size: int, writes: int, pids: dict[str, int], idle_timeout: float) -> dict:
    fill, write = CASES[kind]
    key = f"bench:{kind}:{size}"
    client.delete(key)
    started = time.perf_counter()
    for i in range(0, size, BATCH):
        fill(client, key, i, min(BATCH, size - i))
    fill_s = time.perf_counter() - started
    idle = benchlib.settle(pids, timeout_s=idle_timeout)
    times, errors = [], 0
    before = benchlib.cpu_ticks(pids)
    for i in range(writes):
        t = time.perf_counter()
        try:
            write(client, key, i)
        except redis.ResponseError:
            errors += 1
            continue
        times.append((time.perf_counter() - t) * 1000)
    cpu = benchlib.cpu_us_per_op(before, benchlib.cpu_ticks(pids), writes)
    client.delete(key)
    return {**summarize(times, errors), "fill_s": round(fill_s, 2), "cpu_us_per_op": cpu, "idle_wait": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000, 100_000])
    parser.add_argument("--types", type=lambda s: s.split(","), default=list(CASES))
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--value-bytes", type=int, default=100, help="bytes of each value / element / member")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    WIDTH[0] = args.value_bytes
    if not shutil.which("redis-server"):
        print("needs redis-server: apt-get install redis-server", file=sys.stderr)
        return 2
    with benchrig.Rig("bench-coll-") as rig:
        ours = redis.Redis(*rig.leader.redis_address, socket_timeout=120)
        theirs = redis.Redis("127.0.0.1", rig.redis.ports[0], socket_timeout=120)
        results = rig.header(args)
        cases = {}
        for kind in args.types:
            for size in args.sizes:
                a = measure(ours, kind, size, args.writes, rig.pids, args.idle_timeout)
                b = measure(theirs, kind, size, args.writes, rig.pids, args.idle_timeout)
                cases[f"{kind} {size}"] = {"raftcache": a, "redis": b}
                print(f"{kind} {size}: raftcache p50 {a['p50_ms']} ms, redis p50 {b['p50_ms']} ms",
                      file=sys.stderr, flush=True)
        print(json.dumps({**results, "sizes": args.sizes, "writes": args.writes,
                          "value_bytes": args.value_bytes, "reads": 0, "processes": rig.pids, "cases": cases,
                          "elapsed_s": round(time.time() - rig.started, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
