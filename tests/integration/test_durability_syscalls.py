"""Durability you can see: the system calls of real nodes, in order.

Three nodes run under strace (tests/integration/syscall_trace.py); one
client writes over the leader's Redis port and notes when it sent each write.

- appendfsync always: every acknowledged write was synced to the journal
  (msync + fsync of raft.journal) on the leader after the write was sent and
  before its +OK left the leader, and on at least one follower (a majority
  of three with the leader) before that follower's next Raft send and the
  +OK. Fails when the journal flush skips msync or fsync, or when `always`
  does not flush before acknowledging.
- appendfsync everysec: every acknowledged write was synced on the leader and
  on a follower within EVERYSEC_BOUND_S of its +OK; and the `always` check
  above does NOT hold for it (writes are acknowledged before they are on
  disk), which shows that check can tell the two policies apart.

What this proves and what it does not: docs/durability.md.
"""

from __future__ import annotations

import bisect
import socket
import time

import pytest

from tests.cluster import Cluster
from tests.integration.syscall_trace import NodeTrace, ptrace_unavailable, read_trace, stop_traced, trace_nodes

WRITES = 40
EVERYSEC_WRITING_S = 3.0
EVERYSEC_BOUND_S = 1.5     # the policy's 1 s, plus the tick and strace's own overhead

_WHY_NOT = ptrace_unavailable()
pytestmark = pytest.mark.skipif(bool(_WHY_NOT), reason=_WHY_NOT or "strace works")


def _set(sock: socket.socket, key: bytes) -> None:
    sock.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(key), key))
    reply = b""
    while len(reply) < 5:
        chunk = sock.recv(5 - len(reply))
        if not chunk:
            raise ConnectionError("the leader closed the connection")
        reply += chunk
    if reply != b"+OK\r\n":
        raise AssertionError(f"SET {key!r} answered {reply!r}")


def _run(tmp_path, appendfsync: str, write) -> tuple[list[float], NodeTrace, list[NodeTrace]]:
    """Start a traced cluster, let `write(sock)` write (returns the send times), stop it and read the traces."""
    cluster = Cluster(str(tmp_path / appendfsync), 3, appendfsync=appendfsync)
    files = trace_nodes(cluster)
    try:
        cluster.start(60, wait_ports=True)
        leader = cluster.leader()
        with socket.create_connection(leader.redis_address, timeout=10) as sock:
            client_port = sock.getsockname()[1]
            sent = write(sock)
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        stop_traced(cluster)
    raft_ports = {n.peer.port("raft") for n in cluster.nodes}
    traces = {n.id: read_trace(files[n.id], f"{n.data_dir}/raft/raft.journal", raft_ports,
                               leader.peer.port("redis"), client_port) for n in cluster.nodes}
    lead = traces.pop(leader.id)
    if len(lead.client_acks) != len(sent):
        raise AssertionError(f"{len(sent)} writes acknowledged, {len(lead.client_acks)} +OK found in the trace")
    return sent, lead, list(traces.values())


def _between(events: list[tuple[float, int]], lo: float, hi: float) -> list[tuple[float, int]]:
    times = [t for t, _ in events]
    return events[bisect.bisect_right(times, lo):bisect.bisect_left(times, hi)]


def always_violations(sent: list[float], leader: NodeTrace, followers: list[NodeTrace]) -> list[str]:
    """The writes not synced on the leader and on a follower before their acknowledgement."""
    bad = []
    for i, (t_sent, t_ack) in enumerate(zip(sent, leader.client_acks)):
        if not _between(leader.syncs, t_sent, t_ack):
            bad.append(f"write {i}: no leader journal sync between its send and its +OK")
            continue
        follower_ok = any(
            any(tid == sync_tid for _, tid in _between(f.raft_sends, synced, t_ack))
            for f in followers for synced, sync_tid in _between(f.syncs, t_sent, t_ack))
        if not follower_ok:
            bad.append(f"write {i}: no follower synced the journal and then sent to Raft before the +OK")
    return bad


def test_appendfsync_always_syncs_before_every_acknowledgement(tmp_path):
    def write(sock):
        sent = []
        for i in range(WRITES):
            sent.append(time.time())
            _set(sock, b"always-%d" % i)
        return sent

    sent, leader, followers = _run(tmp_path, "always", write)
    assert always_violations(sent, leader, followers) == []


def test_appendfsync_everysec_syncs_within_a_second_and_not_before_acks(tmp_path):
    def write(sock):
        sent = []
        end = time.time() + EVERYSEC_WRITING_S
        while time.time() < end:
            sent.append(time.time())
            _set(sock, b"everysec-%d" % len(sent))
        # The property is about time: give the last write its second (and the margin) to be synced.
        time.sleep(EVERYSEC_BOUND_S)
        return sent

    sent, leader, followers = _run(tmp_path, "everysec", write)
    late = []
    for i, (t_sent, t_ack) in enumerate(zip(sent, leader.client_acks)):
        if not _between(leader.syncs, t_sent, t_ack + EVERYSEC_BOUND_S):
            late.append(f"write {i}: not synced on the leader within {EVERYSEC_BOUND_S} s of its +OK")
        if not any(_between(f.syncs, t_sent, t_ack + EVERYSEC_BOUND_S) for f in followers):
            late.append(f"write {i}: not synced on any follower within {EVERYSEC_BOUND_S} s of its +OK")
    assert late == []
    early = always_violations(sent, leader, followers)
    assert len(early) > len(sent) // 2, "everysec acknowledged writes before syncing them; the always check must see it"
