"""Run cluster nodes under strace and read back when each journal sync and each
acknowledgement happened (tests/integration/test_durability_syscalls.py).

Every node's command line is prefixed with
`strace -f -ttt -T -yy -e trace=fsync,fdatasync,msync,sendto,sendmsg,write`,
so the trace records, per thread, wall-clock start times and durations of
those system calls with the path or socket addresses of their descriptors.
From it:

- a *journal sync* is an fsync/fdatasync of DATA_DIR/raft/raft.journal that
  returned 0 and was preceded, on the same thread and since that thread's
  previous journal sync, by an msync(MS_SYNC) that returned 0 (the journal is
  written through an mmap, so both are needed); its time is its completion;
- an *acknowledgement to a client* is a write/send of b"+OK\\r\\n" on the
  leader's Redis socket connected to the client's port; its time is its start;
- a *Raft send* is a write/send on a TCP socket with a node's Raft port at
  either end (how a follower acknowledges appended entries).

strace must be able to ptrace the node processes; `ptrace_unavailable()`
says why not. Nodes are stopped by PID: the node process (strace's child)
first, so that strace flushes its output and exits by itself.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

from tests.cluster import Cluster

TRACED = "fsync,fdatasync,msync,sendto,sendmsg,write"
_LINE = re.compile(r"^(?P<tid>\d+) +(?P<ts>\d+\.\d+) (?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\) += (?P<ret>-?\d+|\?)(?: [A-Z]\w+ \(.*\))? <(?P<dur>\d+\.\d+)>$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<args>.*)\) += (?P<ret>-?\d+|\?)"
                      r"(?: [A-Z]\w+ \(.*\))? <(?P<dur>\d+\.\d+)>$")
_UNFINISHED = re.compile(r"^(?P<name>\w+)\((?P<args>.*) <unfinished \.\.\.>$")
_TCP_PORTS = re.compile(r"^\d+<TCP(?:v6)?:\[\[?[0-9a-f.:]+\]?:(\d+)->\[?[0-9a-f.:]+\]?:(\d+)\]>")


def ptrace_unavailable() -> str:
    """Why strace cannot trace a child here ("" when it can)."""
    if shutil.which("strace") is None:
        return "strace is not installed"
    probe = subprocess.run(["strace", "-f", "-o", os.devnull, "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot ptrace here: {probe.stderr.strip()[:200]}"
    return ""


@dataclass
class NodeTrace:
    """The events of one node's trace (times: Unix seconds)."""

    syncs: list[tuple[float, int]] = field(default_factory=list)          # (completion, tid)
    raft_sends: list[tuple[float, int]] = field(default_factory=list)     # (start, tid)
    client_acks: list[float] = field(default_factory=list)                # starts, in order


def _calls(path: str):
    """(tid, name, args, ret, start, end) of every completed call in an strace -f -ttt -T file."""
    pending: dict[int, tuple[str, str, float]] = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            tid, ts, rest = int(m["tid"]), float(m["ts"]), m["rest"]
            if (c := _CALL.match(rest)) is not None:
                yield tid, c["name"], c["args"], c["ret"], ts, ts + float(c["dur"])
            elif (u := _UNFINISHED.match(rest)) is not None:
                pending[tid] = (u["name"], u["args"], ts)
            elif (r := _RESUMED.match(rest)) is not None and tid in pending:
                name, args, start = pending.pop(tid)
                yield tid, name, args + r["args"], r["ret"], start, max(ts, start + float(r["dur"]))


def read_trace(path: str, journal: str, raft_ports: set[int], redis_port: int, client_port: int) -> NodeTrace:
    out = NodeTrace()
    msynced: dict[int, float] = {}       # tid -> completion of its last msync since its last journal sync
    for tid, name, args, ret, start, end in _calls(path):
        if name == "msync":
            if ret == "0" and "MS_SYNC" in args:
                msynced[tid] = end
        elif name in ("fsync", "fdatasync"):
            if ret == "0" and f"<{journal}>" in args.split(",")[0] and msynced.get(tid, float("inf")) <= start:
                out.syncs.append((end, tid))
                del msynced[tid]
        else:   # write, sendto, sendmsg
            ports = _TCP_PORTS.match(args)
            if ports is None:
                continue
            local, remote = int(ports[1]), int(ports[2])
            if local in raft_ports or remote in raft_ports:
                out.raft_sends.append((start, tid))
            elif local == redis_port and remote == client_port and '"+OK\\r\\n"' in args:
                out.client_acks.append(start)
    return out


def trace_nodes(cluster: Cluster) -> dict[str, str]:
    """Prefix every node's command line with strace; returns node id -> trace file."""
    files = {}
    for node in cluster.nodes:
        files[node.id] = os.path.join(cluster.root, f"{node.id}.strace")
        node.argv = ["strace", "-f", "-ttt", "-T", "-yy", "-s", "40", "-e", f"trace={TRACED}",
                     "-o", files[node.id], "--", *node.argv]
    return files


def stop_traced(cluster: Cluster, timeout_s: float = 20.0) -> None:
    """SIGTERM each node process (strace's child, found by PID), wait for strace to
    exit; a node that does not stop in time gets SIGKILL (node first, then strace)."""
    children: dict[str, list[int]] = {}
    for node in cluster.nodes:
        if node.alive:
            try:
                with open(f"/proc/{node.pid}/task/{node.pid}/children") as f:
                    children[node.id] = [int(p) for p in f.read().split()]
            except FileNotFoundError:
                children[node.id] = []
            for pid in children[node.id]:
                os.kill(pid, signal.SIGTERM)
    for node in cluster.nodes:
        if node.proc is None:
            continue
        try:
            node.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            for pid in children.get(node.id, []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            node.proc.kill()
            node.proc.wait()
    cluster.close()
