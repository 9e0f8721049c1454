"""Replicator alone, three real processes on 127.0.0.1: failover and catch-up.

Each node process runs a `Replicator` over a trivial in-memory dict state
machine and answers JSON-line commands on stdin/stdout (run as
`python test_replication_raw.py child CONFIG_JSON`). The test writes through
the leader, SIGKILLs it (by the PID it started), checks that a new leader
commits and that no acknowledged write is lost, then restarts the killed node
and checks that its journal restores the committed entries and it catches up.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

SECRET = "test-secret"


# --- the node process -------------------------------------------------------------

def _child_main(spec: dict) -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from raftcache.node.config import Peer, ReplicationConfig
    from raftcache.node.raft.replication import Replicator

    data: dict[str, str] = {}
    state = {"applied": 0}

    def apply(index: int, entry: bytes):
        key, _, value = entry.decode().partition("=")
        data[key] = value
        state["applied"] = index
        return len(data)

    class Hooks:
        @property
        def applied_index(self) -> int:
            return state["applied"]

        def save(self, path: str) -> int:
            with open(path, "wb") as f:
                pickle.dump((state["applied"], dict(data)), f)
            return state["applied"]

        def load(self, path: str) -> None:
            with open(path, "rb") as f:
                state["applied"], snap = pickle.load(f)
            data.clear()
            data.update(snap)

    peers = [Peer(p["id"], "z", "127.0.0.1", p["base_port"]) for p in spec["peers"]]
    me = next(p for p in peers if p.id == spec["id"])
    config = ReplicationConfig(
        data_dir=spec["data_dir"], appendfsync=spec.get("appendfsync", "everysec"),
        cluster_secret=SECRET, heartbeat_s=0.05, tick_s=0.02,
        election_timeout_min_s=0.4, election_timeout_max_s=0.8,
        connection_retry_s=0.3, leader_fallback_s=1.0, proposal_timeout_s=3.0,
        compaction_min_entries=spec.get("compaction_min_entries", 50_000),
    )
    rep = Replicator(config, me, peers, apply, Hooks())
    rep.start()
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "put":
            done = threading.Event()
            box = {}

            def cb(result, index, error, box=box, done=done):
                box.update(result=result, index=index, error=None if error is None else repr(error))
                done.set()

            rep.propose(f"{cmd['key']}={cmd['value']}".encode(), cb)
            if not done.wait(10):
                box = {"error": "no callback"}
            reply = {"ok": box.get("error") is None, **box}
        elif cmd["op"] == "status":
            reply = {"is_leader": rep.is_leader, "leader_id": rep.leader_id, "term": rep.term,
                     "commit_index": rep.commit_index, "applied_index": rep.applied_index,
                     "last_index": rep.last_index, "lease": rep.lease_valid(),
                     "contact_s": min(rep.last_leader_contact_s(), 1e9),
                     "members": [[m.id, m.connected, m.match_index] for m in rep.members_status()],
                     "data": dict(data)}
        else:
            reply = {"error": f"unknown op {cmd['op']}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# --- the test side ---------------------------------------------------------------

def _free_base_port() -> int:
    """A base port whose Raft port (base + 3) was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1] - 3


class Node:
    def __init__(self, spec: dict, log_path: str):
        self.spec = spec
        self.id = spec["id"]
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "child", json.dumps(self.spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        ready = json.loads(self.proc.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise RuntimeError(f"{self.id} did not start; see {self.log_path}")

    def call(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.id} exited; see {self.log_path}")
        return json.loads(line)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)  # only a process this test started
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(what: str, fn, timeout: float = 10.0, interval: float = 0.05):
    """Poll fn() until it returns a truthy value; raise AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def find_leader(nodes: list[Node]) -> Node | None:
    for n in nodes:
        if n.call(op="status")["is_leader"]:
            return n
    return None


def put_until_ok(leader_of, key: str, value: str, timeout: float = 10.0) -> int:
    """Write through whoever is leader, retrying retryable failures until the deadline."""
    def attempt():
        leader = leader_of()
        if leader is None:
            return None
        reply = leader.call(op="put", key=key, value=value)
        return reply["index"] if reply["ok"] else None
    return wait_for(f"write {key}", attempt, timeout)


def journal_writes(path: str) -> dict[str, str]:
    """The key=value entries in a Raft journal, read with PySyncObj's own reader."""
    import pysyncobj.pickle as ps_pickle
    from pysyncobj.journal import FileJournal

    journal = FileJournal(path)
    try:
        writes = {}
        for command, _index, _term in journal[:]:
            if command[:1] == b"\x00":  # a regular @replicated call: (method id, (data,))
                _method, (entry,) = ps_pickle.loads(command[1:])
                key, _, value = entry.decode().partition("=")
                writes[key] = value
        return writes
    finally:
        journal._destroy()


@pytest.fixture(params=["journal", "compaction"])
def cluster(request, tmp_path):
    """Three nodes. "compaction": logs compact every ~20 entries, so the restarted
    node is brought back by a snapshot install rather than by log entries."""
    compact = request.param == "compaction"
    peers = [{"id": f"n{i + 1}", "base_port": _free_base_port()} for i in range(3)]
    nodes = []
    for p in peers:
        spec = {"id": p["id"], "peers": peers, "data_dir": str(tmp_path / p["id"])}
        if compact:
            spec["compaction_min_entries"] = 20
        nodes.append(Node(spec, str(tmp_path / f"{p['id']}.log")))
    try:
        for n in nodes:
            n.start()
        yield nodes
    finally:
        for n in nodes:
            n.stop()
        for n in nodes:
            with open(n.log_path, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            if tail.strip():
                print(f"--- {n.id} log tail ---\n{tail}")


@pytest.mark.timeout(60)
def test_failover_loses_no_acknowledged_write_and_restart_catches_up(cluster):
    nodes = cluster
    leader = wait_for("a leader", lambda: find_leader(nodes))
    status = leader.call(op="status")
    assert status["leader_id"] == leader.id
    wait_for("the lease", lambda: leader.call(op="status")["lease"], 5)
    acked: dict[str, str] = {}
    for i in range(30):
        reply = leader.call(op="put", key=f"a{i}", value=str(i))
        assert reply["ok"], reply
        acked[f"a{i}"] = str(i)
    follower_status = next(n for n in nodes if n is not leader).call(op="status")
    assert follower_status["leader_id"] == leader.id
    assert follower_status["contact_s"] < 1.0

    # Kill the leader; a new one must be elected among the two others and commit.
    leader.kill()
    survivors = [n for n in nodes if n is not leader]
    new_leader = wait_for("a new leader", lambda: find_leader(survivors), 10)
    for i in range(30):
        key = f"b{i}"
        put_until_ok(lambda: find_leader(survivors), key, str(i))
        acked[key] = str(i)
    new_status = new_leader.call(op="status")
    assert new_status["term"] > status["term"]
    for n in survivors:
        wait_for(f"{n.id} to apply every acknowledged write",
                 lambda n=n: all(n.call(op="status")["data"].get(k) == v for k, v in acked.items()), 10)

    # The killed leader's journal (an mmap, never fsynced under everysec)
    # survived kill -9 with every write it acknowledged.
    if "compaction_min_entries" not in leader.spec:
        in_journal = journal_writes(os.path.join(leader.spec["data_dir"], "raft.journal"))
        assert {k: v for k, v in acked.items() if k.startswith("a")}.items() <= in_journal.items()

    # Restart the killed node: it replays its journal and catches up.
    leader.start()
    restarted = wait_for(f"{leader.id} to catch up", lambda: (
        lambda s: s if all(s["data"].get(k) == v for k, v in acked.items()) else None)(leader.call(op="status")), 20)
    assert not restarted["is_leader"] or restarted["term"] > new_status["term"]
    current = find_leader(nodes)
    if current is not None:
        members = {m[0]: m for m in current.call(op="status")["members"]}
        assert set(members) == {"n1", "n2", "n3"}


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "child":
    _child_main(json.loads(sys.argv[2]))
