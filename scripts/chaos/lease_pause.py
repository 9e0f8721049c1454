"""Lease (or linearizable) reads under leader pauses: would a lease that outlives leadership,
or a deposed leader serving ReadIndex reads, be caught?

    python scripts/chaos/lease_pause.py --cycles 4 --pause 2.5 --out lease-run
    python scripts/chaos/lease_pause.py --cut --cycles 4 --pause 1.8 --out lease-cut   # root: netns
    python scripts/chaos/lease_pause.py --cut --level linearizable --cycles 2 --pause 3 --out deposed

Each cycle: find the leader L; writers write unique values to one register
through the other nodes; SIGSTOP L for `--pause` seconds (longer than the
election timeout, so the others elect a new leader and acknowledge writes);
meanwhile every `--read-every` seconds a `lease` read is sent to L's own
gRPC port (it waits in L's socket); SIGCONT L, which then answers every
queued read, and keeps receiving lease reads for `--after` seconds more.
A read sent after a write was acknowledged by the new leader and answered by
the resumed L from its own state returned a value already overwritten: the
checker (scripts/chaos/checker.py) flags it as a lease linearizability
failure and a staleness violation (bound 0 for `lease`).

With `--cut` (root; network namespaces, scripts/chaos/net.py) L is not
paused but cut off from its peers only (`cut_from_peers`): it keeps running
and answering clients, believes it leads until PySyncObj's leader fallback
(2 s), and gets lease reads all along while the others elect a new leader and
take writes: the partition in which a lease that outlives leadership shows.

If L correctly refuses the lease (its acknowledgements count from send
times, all older than the pause or cut), it confirms leadership or forwards,
and the run is valid.

With `--level linearizable` the reads are linearizable ones: L must confirm
leadership with a heartbeat round (ReadIndex) that a majority answers, which
a leader cut from its peers never gets, so none of its reads may succeed
while it is cut off (`lease_reads.ok_during_fault`, which the tests require
to be 0; a lease read may succeed there for the lease's first ~0.54 s).

Writes the history, faults and verdict like run.py; exit status 0 valid, 1
anomaly, 2 undecided.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import grpc
from raftcache.proto import cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

from scripts.chaos import checker
from scripts.chaos import workload as W

log = logging.getLogger("chaos.lease_pause")
KEY = "r0"


class Writer(W.GrpcWorker):
    """Unique-value writes to one register, retried with the same sequence (GrpcWorker's rules); short
    attempts, so that a write stuck behind the paused leader moves on to the new one."""

    attempt_timeout_s = 0.5

    def step(self) -> None:
        value = self._unique()
        self._run_op("write", KEY, pb.Command(set=pb.Set(key=W._key(KEY), value=value.encode())), value=value)


class LeaseReader:
    """Asynchronous `lease` (or `level`) reads of KEY sent to one node's gRPC port, each recorded
    when it completes."""

    def __init__(self, history: W.History, node_id: str, address: str, timeout_s: float, level: str = "lease"):
        self.history, self.node_id, self.timeout_s, self.level = history, node_id, timeout_s, level
        self.channel = grpc.insecure_channel(address, options=[("grpc.enable_retries", 0)])
        self.stub = cache_pb2_grpc.CacheStub(self.channel)
        self._pending: list[grpc.Future] = []
        self._n = 0

    def send(self) -> None:
        self._n += 1
        req = cache_pb2.Request(command=pb.Command(get=pb.Get(key=W._key(KEY))))
        req.consistency.level = cache_pb2.ReadConsistency.Level.Value(self.level.upper())
        op = {"process": f"{self.level}-{self.node_id}-{self._n}", "client": "grpc", "f": "read", "key": KEY,
              "value": None, "level": self.level, "node": self.node_id, "t0": self.history.now()}
        fut = self.stub.Execute.future(req, timeout=self.timeout_s)
        fut.add_done_callback(lambda f, op=op: self._done(f, op))
        self._pending.append(fut)

    def _done(self, fut: grpc.Future, op: dict) -> None:
        t1 = self.history.now()
        try:
            reply = fut.result()
        except grpc.RpcError as e:  # sent: whether it was served is not known
            op.update(status="unknown", result=None, index=None, t1=None, error=f"{e.code().name}: {e.details()}"[:160])
        else:
            from raftcache.node import commands as rc_commands

            result = rc_commands.from_value(reply.value)
            if isinstance(result, Exception):
                op.update(status="fail", result=None, index=None, t1=t1, error=repr(result)[:160])
            else:
                op.update(status="ok", result=W._text(result), index=reply.index, t1=t1)
        self.history.record(op)

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for fut in self._pending:
            try:
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001, S110 - recorded by the callback
                pass

    def close(self) -> None:
        self.channel.close()


def cycle(cluster, history: W.History, keys: W.Keys, n: int, args, faults: list[dict]) -> None:
    """One pause of the leader with lease reads queued at it; see the module docstring."""
    leader = cluster.leader(timeout_s=30)
    others = [node for node in cluster.nodes if node is not leader]
    stop = threading.Event()
    deadline = time.monotonic() + args.pause + args.after + 30
    writers = [Writer(f"w{n}.{i}", [(o.id, o.grpc_address) for o in others[i:] + others[:i]], history, keys,
                      seed=n * 10 + i, stop=stop, deadline=deadline, run_id=f"lp{n}", write_timeout_s=4.0)
               for i in range(args.writers)]
    reader = LeaseReader(history, leader.id, leader.grpc_address, timeout_s=args.pause + args.after + 10,
                         level=args.level)
    try:
        for w in writers:
            w.start()
        stop.wait(0.5)  # writes flowing through the leader
        reader.send()
        kind = "cut_leader_from_peers" if args.cut else "pause_leader"
        fault = {"kind": kind, "target": leader.id, "start": history.now(), "end": None}
        faults.append(fault)
        if args.cut:
            cluster.network.cut_from_peers([leader.id])
        else:
            os.kill(leader.pid, signal.SIGSTOP)
        try:
            resume_at = time.monotonic() + args.pause
            while time.monotonic() < resume_at:
                reader.send()  # waits in the paused leader's socket, or is answered by the cut one
                stop.wait(min(args.read_every, max(0.0, resume_at - time.monotonic())))
        finally:
            if args.cut:
                cluster.network.heal()
            else:
                os.kill(leader.pid, signal.SIGCONT)
            fault["end"] = history.now()
        after = time.monotonic() + args.after
        while time.monotonic() < after:
            reader.send()
            stop.wait(args.read_every)
        reader.wait(args.pause + args.after + 15)
    finally:
        stop.set()
        for w in writers:
            w.join(30)
        reader.close()


def exposed_reads(history: list[dict], faults: list[dict], level: str = "lease") -> dict:
    """Reads at `level` sent to the paused leader after the new leader acknowledged a write: the ones a
    lease outliving leadership (or a deposed leader's read) would have answered with an overwritten
    value (the test's power); and those answered by it while it was paused or cut off."""
    leases = [op for op in history if op.get("level") == level and op["f"] == "read" and not op.get("final")]
    exposed = during = 0
    for fault in faults:
        acked = [op["t1"] for op in history if op["f"] == "write" and op["status"] == "ok"
                 and op["t0"] > fault["start"] and op["t1"] < fault["end"]]
        first = min(acked, default=None)
        exposed += sum(1 for op in leases if op["status"] == "ok" and first is not None
                       and first < op["t0"] <= fault["end"] and op["node"] == fault["target"])
        during += sum(1 for op in leases if op["status"] == "ok" and op["node"] == fault["target"]
                      and fault["start"] < op["t0"] and op["t1"] < fault["end"])
    return {"level": level, "sent": len(leases), "ok": sum(op["status"] == "ok" for op in leases),
            "exposed_ok": exposed, "ok_during_fault": during}


def main(argv: list[str] | None = None) -> int:
    from scripts.chaos.cluster import ChaosCluster

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cycles", type=int, default=4)
    p.add_argument("--pause", type=float, default=2.5, help="seconds the leader stays stopped (> election timeout)")
    p.add_argument("--after", type=float, default=1.0, help="seconds of lease reads to the old leader after it resumes")
    p.add_argument("--read-every", type=float, default=0.1)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument("--cut", action="store_true",
                   help="cut the leader off from its peers (netns, root) instead of pausing it")
    p.add_argument("--level", choices=["lease", "linearizable"], default="lease",
                   help="the level of the reads sent to the old leader")
    p.add_argument("--inside", help=argparse.SUPPRESS)  # namespace prefix, set when re-run in the client netns
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.abspath(args.out or os.path.join(os.getcwd(), "chaos-runs", f"lease-pause-{stamp}"))
    os.makedirs(out, exist_ok=True)
    network = None
    if args.cut:
        from scripts.chaos import net

        ids = ["n1", "n2", "n3"]
        if not args.inside:  # create the namespaces, run again inside the clients' one, clean up
            network = net.NetnsNetwork(ids).create()
            try:
                child = [*network.exec_prefix(None), sys.executable, os.path.abspath(__file__),
                         *(argv if argv is not None else sys.argv[1:]), "--inside", network.prefix, "--out", out]
                return subprocess.run(child).returncode
            finally:
                network.destroy()
        network = net.NetnsNetwork(ids, prefix=args.inside)
    history = W.History(os.path.join(out, "history.jsonl"))
    keys = W.Keys(registers=1, counters=0, sets=0)
    keys.redis_counters = []
    faults: list[dict] = []
    meta: dict = {"command": "python scripts/chaos/lease_pause.py "
                  + " ".join(a for a in (argv or sys.argv[1:]) if not a.startswith("--inside"))}
    cluster = ChaosCluster(os.path.join(out, "cluster"), 3, network=network)
    try:
        cluster.start(timeout_s=60)
        history.t_start = time.monotonic()
        for n in range(args.cycles):
            cycle(cluster, history, keys, n, args, faults)
        cluster.leader(timeout_s=30)
        W.final_reads([(node.id, node.grpc_address) for node in cluster.nodes], history, keys, timeout_s=30)
    except Exception as e:
        log.exception("run aborted")
        meta["aborted"] = repr(e)
    finally:
        history.close()
        cluster.close()
    result = checker.verdict(history.ops, faults)
    if meta.get("aborted") and result["valid"] is not False:
        result["valid"] = None
    result["lease_reads"] = exposed_reads(history.ops, faults, args.level)
    result["run"] = meta
    result["faults"] = faults
    with open(os.path.join(out, "faults.json"), "w") as f:
        json.dump(faults, f, indent=1)
    with open(os.path.join(out, "verdict.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(json.dumps({k: result[k] for k in ("valid", "anomalies", "undecided", "linearizable", "lease_linearizable",
                                              "staleness_violations", "max_staleness_ms", "lease_reads",
                                              "acknowledged_writes")} | {"out": out}, indent=1, default=str))
    return checker.EXIT_STATUS[result["valid"]]


if __name__ == "__main__":
    sys.exit(main())
