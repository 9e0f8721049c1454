"""Large values: how long one SET of N MB takes to commit and to reach every replica.

Usage: python scripts/bench_large_values.py [--sizes-mb 1,10,50] [--json]

Starts a three-node cluster on 127.0.0.1 and, for each size, SETs one value
of that many MB (10^6 bytes) through redis-py on the leader, timing the
reply (committed and applied on the leader), then the time until both
followers have applied it, then checks STRLEN on each follower at read
level `any` (its own copy). A SET that gets an error reply is counted in
`errors`; a follower whose STRLEN disagrees is a `mismatch`. Reports CPU
seconds each node process spent on the write (/proc/PID/stat) and waits
until every node is idle before each size. The default value limit is 64 MiB
(proto-max-bulk-len): larger sizes are refused unless raised. Prints JSON
(always; --json is accepted for uniformity) with the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import redis

from raftcache.proto import commands_pb2 as pb
from scripts import benchlib
from raftcache.localcluster import LocalCluster


def summarize(size: int, errors: int, set_s: float, replicated_s: float | None, follower_lengths: list[int],
              cpu: dict, idle: dict) -> dict:
    """One size's figures; a follower whose STRLEN is not `size` counts as a mismatch."""
    return {"bytes": size, "errors": errors, "set_reply_s": round(set_s, 3),
            "all_replicas_s": round(replicated_s, 3) if replicated_s is not None else None,
            "follower_mismatches": sum(1 for n in follower_lengths if n != size), "cpu_s": cpu, "idle_wait": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=lambda s: [float(x) for x in s.split(",")], default=[1, 10, 50])
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-large-")
    cluster = LocalCluster(os.path.join(root, "raftcache"), 3)
    started = time.time()
    try:
        cluster.start()
        leader = cluster.leader()
        followers = cluster.followers()
        pids = {f"{'leader' if n is leader else 'follower'}-{n.id}": n.pid for n in cluster.alive_nodes()}
        client = redis.Redis(*leader.redis_address, socket_timeout=300)
        cases = {}
        for mb in args.sizes_mb:
            size = int(mb * 1_000_000)
            key = b"big:%d" % size
            value = b"x" * size
            idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
            before = benchlib.cpu_ticks(pids)
            t0 = time.perf_counter()
            errors = 0
            try:
                client.set(key, value)
            except redis.ResponseError:
                errors = 1
            set_s = time.perf_counter() - t0
            replicated_s = None
            lengths = []
            if not errors:
                cluster.wait_applied(cluster.status(leader).commit_index, followers, timeout_s=300)
                replicated_s = time.perf_counter() - t0
                lengths = [cluster.execute(node, pb.Command(str_len=pb.StrLen(key=key)), level="any").value.integer
                           for node in followers]
            cpu = benchlib.cpu_seconds(before, benchlib.cpu_ticks(pids))
            cases[f"{mb:g} MB"] = summarize(size, errors, set_s, replicated_s, lengths, cpu, idle)
            print(f"{mb:g} MB: {cases[f'{mb:g} MB']}", file=sys.stderr, flush=True)
            client.delete(key)
        print(json.dumps({"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
                          "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                          "cpus": os.cpu_count(), "processes": pids, "cases": cases,
                          "elapsed_s": round(time.time() - started, 1)}, indent=2))
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
