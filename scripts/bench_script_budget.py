"""Runaway write scripts: how long the apply budget lets them hold the Raft thread, and
whether a cluster notices (docs/scripting.md, "The budget").

Usage: python scripts/bench_script_budget.py [--in-process] [--cluster] [--version 9]

--in-process (the calibration): each script shape below, looping until the budget stops
it, applied as one log entry to a temporary keyspace in this process (what every replica
does on its Raft thread): wall ms to the stop and the reply. `--version 8` applies the
entries with the log semantics version before the apply budget (the old, uncapped one),
and runs the cluster's nodes with `--max-log-version 8`.

--cluster: a 3-node cluster on loopback at the default config; each shape sent by EVAL to
the leader while a thread GETs a key on a follower: the EVAL's wall time, every node's
Raft term before and after (a change = an election), the slowest concurrent GET and how
many GETs failed. The term after is read once the cluster has settled (2 s).

Prints JSON with the load average before and after (the machine may be shared: compare
shapes and versions within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import benchlib

#: Script shapes that loop until the budget stops them: pure Lua, Lua building tables and
#: strings, and redis.call loops of cheap and of costlier writes.
SHAPES = {
    "pure_lua": "redis.call('SET', KEYS[1], 'partial') while true do end",
    "table_building": "local t = {} while true do t[#t + 1] = tostring(#t) end",
    "get_loop": "while true do redis.call('GET', KEYS[1]) end",
    "incr_loop": "while true do redis.call('INCR', KEYS[2]) end",
    "hset_loop": "local i = 0 while true do i = i + 1 redis.call('HSET', KEYS[3], 'f' .. (i % 50), i) end",
    "rpush_loop": "while true do redis.call('RPUSH', KEYS[4], 'x') end",
}
KEYS = ["budget:k", "budget:n", "budget:h", "budget:l"]


def in_process(version: int) -> dict:
    from raftcache.node import commands, scripting
    from raftcache.node.commands.statemachine import StateMachine
    from raftcache.node.config import KeyspaceConfig
    from raftcache.node.errors import CommandError
    from raftcache.node.storage.keyspace import Keyspace
    from raftcache.proto import commands_pb2 as pb

    scripting.install()
    path = tempfile.mkdtemp(prefix="bench-script-budget-")
    try:
        config = KeyspaceConfig(path=path)
        sm = StateMachine(Keyspace(config), config)
        out = {}
        warm = pb.LogEntry(version=version, command=pb.Command(eval=pb.Eval(body=b"return 1")))
        sm.apply(1, commands.encode_entry(warm))   # the Lua runtime starts on first use: not timed
        for index, (name, body) in enumerate(SHAPES.items(), 2):
            entry = commands.encode_entry(pb.LogEntry(
                version=version, now_ms=int(time.time() * 1000),
                command=pb.Command(eval=pb.Eval(body=body.encode(), keys=[k.encode() for k in KEYS]))))
            start = time.perf_counter()
            result = sm.apply(index, entry)
            out[name] = {"apply_ms": round((time.perf_counter() - start) * 1000, 1),
                         "reply": result.message[-90:] if isinstance(result, CommandError) else repr(result)}
        return out
    finally:
        shutil.rmtree(path, ignore_errors=True)


def on_cluster(version: int) -> dict:
    import redis
    from raftcache.localcluster import LocalCluster

    root = tempfile.mkdtemp(prefix="bench-script-budget-cluster-")
    cluster = LocalCluster(root, 3, extra_args=["--max-log-version", str(version)]).start(timeout_s=60)
    try:
        cluster.wait_log_version(version, timeout_s=60)
        leader = cluster.leader()
        follower = next(n for n in cluster.alive_nodes() if n is not leader)
        client = redis.Redis(*leader.redis_address, socket_timeout=60)
        client.set("budget:g", "1")
        out = {}
        for name, body in SHAPES.items():
            terms_before = [cluster.status(n).term for n in cluster.alive_nodes()]
            stop, latencies, errors = threading.Event(), [], []

            def reader(stop=stop, latencies=latencies, errors=errors):
                r = redis.Redis(*follower.redis_address, socket_timeout=30)
                for _ in range(100_000):
                    if stop.is_set():
                        return
                    start = time.perf_counter()
                    try:
                        r.get("budget:g")
                    except redis.RedisError as e:
                        errors.append(type(e).__name__)
                    latencies.append(time.perf_counter() - start)
                    stop.wait(0.005)
            thread = threading.Thread(target=reader)
            thread.start()
            start = time.perf_counter()
            try:
                client.eval(body, len(KEYS), *KEYS)
                reply = "ok"
            except redis.RedisError as e:
                reply = str(e)[-90:]
            eval_s = time.perf_counter() - start
            time.sleep(2.0)   # let an election, if the stall caused one, finish
            stop.set()
            thread.join(60)
            out[name] = {"eval_ms": round(eval_s * 1000, 1), "terms_before": terms_before,
                         "terms_after": [cluster.status(n).term for n in cluster.alive_nodes()],
                         "follower_get_max_ms": round(max(latencies, default=0) * 1000, 1),
                         "follower_gets": len(latencies), "follower_get_errors": len(errors), "reply": reply}
        return out
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    from raftcache.node import commands

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--version", type=int, default=commands.MAX_VERSION,
                        help="log semantics version of the entries (in process) and of the cluster "
                             "(the nodes' --max-log-version)")
    args = parser.parse_args()
    if not (args.in_process or args.cluster):
        args.in_process = args.cluster = True
    report = {"command": benchlib.command_line(), "load_average_before": benchlib.load_average()}
    if args.in_process:
        report["in_process"] = {"version": args.version, "shapes": in_process(args.version)}
    if args.cluster:
        report["cluster"] = {"version": args.version, "shapes": on_cluster(args.version)}
    report["load_average_after"] = benchlib.load_average()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
