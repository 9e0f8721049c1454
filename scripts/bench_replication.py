"""Replication alone: PySyncObj commits/s with N proposals in flight, and a lone proposal's latency.

Usage: python scripts/bench_replication.py [--appendfsync everysec,always,no] [--in-flight 1000]
           [--duration 3] [--lone 200] [--entry-bytes 128] [--json]

For each fsync policy, starts three processes on 127.0.0.1, each one
`Replicator` (node/raft/replication.py: the Raft journal, wire format and fsync
policy raftcache runs) with an apply that does nothing: no front end, no
LMDB. On the leader it keeps --in-flight proposals of --entry-bytes opaque
bytes outstanding for --duration seconds (each commit proposes the next) and
reports committed entries/s counting only successful proposals (failed ones
are reported as errors), the CPU µs per committed entry of each process
(/proc/PID/stat), then --lone proposals one at a time and their p50/p99.
Log compaction is off for the run (it would measure snapshot writing).
Waits until the three processes are idle before each measurement. Prints
one JSON document (always; --json is accepted for uniformity) with the
command line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import benchlib


class NoSnapshots:
    """Snapshot hooks for an apply that keeps no state."""

    applied_index = 0

    def save(self, path: str) -> None:
        with open(path, "wb"):
            pass

    def load(self, path: str) -> None:
        pass


def keep_in_flight(rep, in_flight: int, duration_s: float, data: bytes) -> dict:
    """Keep `in_flight` proposals outstanding for `duration_s` (each commit proposes the next)."""
    lock = threading.Lock()
    counts = {"ok": 0, "errors": 0, "outstanding": in_flight}
    finished = threading.Event()
    stop_at = time.monotonic() + duration_s

    def done(_result, _index, error) -> None:
        with lock:
            counts["ok" if error is None else "errors"] += 1
            again = error is None and time.monotonic() < stop_at
            if not again:
                counts["outstanding"] -= 1
                if counts["outstanding"] == 0:
                    finished.set()
        if again:
            rep.propose(data, done)

    started = time.monotonic()
    for _ in range(in_flight):
        rep.propose(data, done)
    finished.wait(duration_s + 60)
    elapsed = time.monotonic() - started
    return {"ok": counts["ok"], "errors": counts["errors"], "elapsed_s": round(elapsed, 3)}


def one_at_a_time(rep, n: int, data: bytes) -> dict:
    """`n` proposals, each after the previous committed: latencies in ms (successful only)."""
    latencies, errors = [], 0
    for _ in range(n):
        ev = threading.Event()
        outcome = []
        t0 = time.perf_counter()
        rep.propose(data, lambda _r, _i, error: (outcome.append(error), ev.set()))
        ev.wait(30)
        if outcome and outcome[0] is None:
            latencies.append((time.perf_counter() - t0) * 1000)
        else:
            errors += 1
    latencies.sort()
    return {"ok": len(latencies), "errors": errors, "p50_ms": round(benchlib.percentile(latencies, 0.5), 3),
            "p99_ms": round(benchlib.percentile(latencies, 0.99), 3)}


def node_main(index: int, specs: list[str], secret: str, data_dir: str, appendfsync: str, conn) -> None:
    """One Raft process: answers ("leader?",), ("load", kwargs), ("lone", kwargs), ("stop",) on `conn`."""
    from raftcache.node.config import Peer, ReplicationConfig
    from raftcache.node.raft.replication import Replicator

    peers = [Peer.parse(s) for s in specs]
    config = ReplicationConfig(data_dir=data_dir, appendfsync=appendfsync, cluster_secret=secret,
                               compaction_min_entries=10**9, compaction_min_s=10**6)
    rep = Replicator(config, peers[index], peers, apply=lambda i, d: None, snapshot=NoSnapshots())
    rep.start()
    while True:
        msg = conn.recv()
        if msg[0] == "leader?":
            conn.send(rep.is_leader)
        elif msg[0] == "load":
            conn.send(keep_in_flight(rep, **msg[1]))
        elif msg[0] == "lone":
            conn.send(one_at_a_time(rep, **msg[1]))
        else:
            rep.close()
            conn.send(None)
            return


def committed_rate(load: dict) -> float:
    """Committed entries per second of a `keep_in_flight` result (errors excluded)."""
    return benchlib.successful_rate(load["ok"] + load["errors"], load["errors"], load["elapsed_s"])


def run_policy(policy: str, args, root: str) -> dict:
    from raftcache.localcluster import free_base_port

    ctx = multiprocessing.get_context("spawn")
    specs = [f"n{i + 1}@{'abc'[i]}=127.0.0.1:{free_base_port()}" for i in range(3)]
    secret = secrets.token_urlsafe(16)
    conns, procs = [], []
    try:
        for i in range(3):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=node_main, args=(i, specs, secret, os.path.join(root, policy, f"n{i + 1}"),
                                                    policy, theirs), daemon=True)
            p.start()
            conns.append(ours)
            procs.append(p)
        leader = None
        deadline = time.monotonic() + 30
        while leader is None and time.monotonic() < deadline:
            time.sleep(0.2)
            for i, c in enumerate(conns):
                c.send(("leader?",))
                if c.recv():
                    leader = i
        if leader is None:
            raise RuntimeError("no leader elected in 30 s")
        pids = {f"{'leader' if i == leader else 'follower'}-n{i + 1}": p.pid for i, p in enumerate(procs)}
        data = b"x" * args.entry_bytes
        out: dict = {"processes": pids}
        out["idle_wait"] = benchlib.settle(pids, timeout_s=args.idle_timeout)
        before = benchlib.cpu_ticks(pids)
        conns[leader].send(("load", {"in_flight": args.in_flight, "duration_s": args.duration, "data": data}))
        load = conns[leader].recv()
        load["cpu_us_per_op"] = benchlib.cpu_us_per_op(before, benchlib.cpu_ticks(pids), load["ok"])
        load["committed_per_s"] = committed_rate(load)
        out["in_flight"] = load
        out["lone_idle_wait"] = benchlib.settle(pids, timeout_s=args.idle_timeout)
        conns[leader].send(("lone", {"n": args.lone, "data": data}))
        out["lone"] = conns[leader].recv()
        return out
    finally:
        for c in conns:
            try:
                c.send(("stop",))
                c.recv()
            except (OSError, EOFError):
                pass
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appendfsync", type=lambda s: s.split(","), default=["everysec", "always", "no"])
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of the in-flight load per policy")
    parser.add_argument("--lone", type=int, default=200, help="proposals one at a time, for the latency")
    parser.add_argument("--entry-bytes", type=int, default=128)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-repl-")
    started = time.time()
    try:
        result = {"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
                  "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "cpus": os.cpu_count(),
                  "in_flight": args.in_flight, "duration_s": args.duration, "entry_bytes": args.entry_bytes,
                  "policies": {}}
        for policy in args.appendfsync:
            result["policies"][policy] = run_policy(policy, args, root)
            print(f"{policy}: {result['policies'][policy]['in_flight']['committed_per_s']} committed/s",
                  file=sys.stderr, flush=True)
        result["elapsed_s"] = round(time.time() - started, 1)
        result["loadavg_1m_end"] = benchlib.load_average()
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
