"""Eviction microbenchmark: CPU µs per SET of the leader's eviction work and of apply, in one process.

Usage: python scripts/bench_eviction.py [--sets 20000] [--batch 8] [--maxmemory-mb 16] [--value-bytes 100]

What the leader and each replica do per SET when the cache is full, without
Raft or sockets: a keyspace filled to 95 % of --maxmemory-mb by MSETs (as
scripts/bench_resp.py's eviction case fills it), then --sets SETs of fresh
keys in group commits of --batch, each as node/service/group_commit.py handles
it on the leader (the access table's record, `Evictor.plan`, encoding the
batch, apply, `Evictor.release`) and as a follower applies it (a second
keyspace), under allkeys-lru; and the same with room (maxmemory 1 GiB).
Reports process CPU µs per SET for each step (`record` includes building
the log entries), evictions and Evict entries. Prints JSON with the command
line and the load average: under load, compare the two cases of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import benchlib


def run(maxmemory: int, fill_bytes: int, sets: int, batch: int, value_bytes: int) -> dict:
    from raftcache.node import commands
    from raftcache.node.commands.statemachine import StateMachine
    from raftcache.node.config import KeyspaceConfig
    from raftcache.node.service.access import AccessTable
    from raftcache.node.service.evictor import Evictor, estimate_growth
    from raftcache.node.storage.keyspace import Keyspace, record_bytes
    from raftcache.proto import commands_pb2 as pb

    root = tempfile.mkdtemp(prefix="bench-eviction-")
    try:
        replicas = []
        for name in ("leader", "follower"):
            config = KeyspaceConfig(path=os.path.join(root, name))
            ks = Keyspace(config)
            replicas.append((ks, StateMachine(ks, config)))
            ks.maxmemory_bytes = maxmemory          # after the state machine set its own
        (ks, sm), (_, follower) = replicas
        now = int(time.time() * 1000)
        access = AccessTable(now)
        setting = {"maxmemory-policy": "allkeys-lru", "maxmemory-samples": "5"}.__getitem__
        rng = random.Random(1)
        evictor = Evictor(ks, access, setting, rng)
        index = filled = 0
        while ks.used_bytes < 0.95 * fill_bytes:
            keys = [b"fill:%012d" % (filled + i) for i in range(500)]
            command = pb.Command(mset=pb.MSet(pairs=[pb.KeyValue(key=k, value=b"f" * value_bytes) for k in keys]))
            for key in keys:                        # as the leader records an MSET it proposes
                access.record(0, key, now, record_bytes(key, value_bytes))
            filled += 500
            index += 1
            data = commands.encode_entry(pb.LogEntry(version=commands.MAX_VERSION, now_ms=now, command=command))
            sm.apply(index, data)
            follower.apply(index, data)
        steps = dict.fromkeys(("record", "plan", "encode", "apply_leader", "release", "apply_follower"), 0.0)
        clock = time.process_time
        evicts = 0
        for _ in range(sets // batch):
            now += 1
            t0 = clock()
            entries, growth = [], 0
            for _ in range(batch):
                entry = pb.LogEntry(version=commands.MAX_VERSION, now_ms=now, seed=rng.getrandbits(63))
                entry.command.set.key = key = b"key:%012d" % rng.randrange(100 * sets)
                entry.command.set.value = b"x" * value_bytes
                size = estimate_growth(entry.command)
                access.record(0, key, now, size)
                growth += size
                entries.append(entry)
            t1 = clock()
            planned, named = evictor.plan(entries, growth, 0, now)
            for entry in planned:
                entry.version = commands.MAX_VERSION
            t2 = clock()
            data = commands.encode_batch(planned + entries)
            t3 = clock()
            index += 1
            results = sm.apply(index, data)
            t4 = clock()
            evictor.release(named, results[:len(planned)])
            t5 = clock()
            follower.apply(index, data)
            t6 = clock()
            evicts += len(planned)
            for name, spent in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                steps[name] += spent
        done = sets // batch * batch
        out = {f"{name}_cpu_us_per_set": round(spent * 1e6 / done, 2) for name, spent in steps.items()}
        out.update(sets=done, evicted=sum(sm.evicted.values()), evict_entries=evicts, used_bytes_after=ks.used_bytes)
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=8, help="SETs per group commit")
    parser.add_argument("--maxmemory-mb", type=int, default=16)
    parser.add_argument("--value-bytes", type=int, default=100)
    args = parser.parse_args()
    fill = args.maxmemory_mb << 20
    result = {"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
              "with_room": run(1 << 30, fill, args.sets, args.batch, args.value_bytes),
              "evicting": run(fill, fill, args.sets, args.batch, args.value_bytes)}
    result["loadavg_1m_end"] = benchlib.load_average()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
