#!/usr/bin/env python3
"""Single-write latency on one large collection: raftcache vs a redis-server primary.

For each type (hash, set, list, sorted set) and each size, fills one key to
that many elements with pipelined batches, then times `--writes` single
writes to it (HSET of a new field, SADD, LPUSH, ZADD of a new member),
one at a time through redis-py, against a raftcache three-node cluster's
leader and, in the same run, a redis-server primary with two replicas
(appendonly everysec). Prints one JSON object:

    {"sizes": [...], "cases": {"hash 10000": {"raftcache_p50_ms": …, "redis_p50_ms": …,
     "raftcache_fill_s": …}, …}}

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
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import redis

from scripts.bench_resp import RedisTrio
from tests.cluster import Cluster

BATCH = 1000

#: type -> (fill one batch of elements [i, i+n), one write of element i)
CASES = {
    "hash": (lambda p, k, i, n: p.hset(k, mapping={b"f%d" % j: b"v" for j in range(i, i + n)}),
             lambda r, k, i: r.hset(k, b"new%d" % i, b"v")),
    "set": (lambda p, k, i, n: p.sadd(k, *[b"m%d" % j for j in range(i, i + n)]),
            lambda r, k, i: r.sadd(k, b"new%d" % i)),
    "list": (lambda p, k, i, n: p.rpush(k, *[b"e%d" % j for j in range(i, i + n)]),
             lambda r, k, i: r.lpush(k, b"new%d" % i)),
    "zset": (lambda p, k, i, n: p.zadd(k, {b"m%d" % j: j for j in range(i, i + n)}),
             lambda r, k, i: r.zadd(k, {b"new%d" % i: -i})),
}


def measure(client: redis.Redis, kind: str, size: int, writes: int) -> dict:
    fill, write = CASES[kind]
    key = f"bench:{kind}:{size}"
    client.delete(key)
    started = time.perf_counter()
    for i in range(0, size, BATCH):
        fill(client, key, i, min(BATCH, size - i))
    fill_s = time.perf_counter() - started
    times = []
    for i in range(writes):
        t = time.perf_counter()
        write(client, key, i)
        times.append((time.perf_counter() - t) * 1000)
    client.delete(key)
    return {"p50_ms": round(statistics.median(times), 3), "max_ms": round(max(times), 3), "fill_s": round(fill_s, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000, 100_000])
    parser.add_argument("--types", type=lambda s: s.split(","), default=list(CASES))
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        print("needs redis-server: apt-get install redis-server", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="bench-coll-")
    cluster = Cluster(os.path.join(root, "raftcache"), 3)
    peer = RedisTrio(root)
    try:
        cluster.start()
        peer.start()
        ours = redis.Redis(*cluster.leader().redis_address, socket_timeout=120)
        theirs = redis.Redis("127.0.0.1", peer.ports[0], socket_timeout=120)
        cases = {}
        for kind in args.types:
            for size in args.sizes:
                a = measure(ours, kind, size, args.writes)
                b = measure(theirs, kind, size, args.writes)
                cases[f"{kind} {size}"] = {
                    "raftcache_p50_ms": a["p50_ms"], "raftcache_max_ms": a["max_ms"], "raftcache_fill_s": a["fill_s"],
                    "redis_p50_ms": b["p50_ms"], "redis_max_ms": b["max_ms"], "redis_fill_s": b["fill_s"],
                }
                print(f"{kind} {size}: {cases[f'{kind} {size}']}", file=sys.stderr, flush=True)
        print(json.dumps({"sizes": args.sizes, "writes": args.writes, "cases": cases}, indent=2))
    finally:
        cluster.close()
        peer.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
