"""A node that cannot write its disk fails cleanly, and rejoins once it can (docs/durability.md "Disk faults").

- read-only data dir (tmpfs + read-only bind mount) on a follower while the
  leader is killed (so the follower campaigns): it exits with
  EXIT_DISK_ERROR and its message, never holding a term the others lack;
  healed and restarted it rejoins;
- full data dir (tmpfs filled up): the same;
- a node whose persisted term is far above the cluster's (what the
  read-only bug used to leave behind) is not excluded forever: the leader
  learns the term from its reply and a new election includes it.

The mount tests skip with the reason when mount is not permitted.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest
import redis

from raftcache.node.raft.journal import DurableMetaStorer
from scripts.chaos import diskfault
from raftcache.localcluster import wait_until
from tests.cluster import Cluster

EXIT_DISK_ERROR = 74


@pytest.fixture
def tmpfs_cluster(tmp_path, request):
    why = diskfault.unavailable(str(tmp_path))
    if why:
        print(f"skipping: {why}")
        pytest.skip(why)
    c = Cluster(str(tmp_path / "cluster"), 3)
    for node in c.nodes:
        diskfault.mount_tmpfs(node.data_dir, 64 << 20)
    try:
        c.start()
        yield c
    finally:
        if any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
               for w in ("setup", "call")):
            print(c.tail_logs())
        c.close()
        for node in c.nodes:
            diskfault.unmount_all(node.data_dir)


def _write(cluster, key: str, value: bytes = b"v", timeout_s: float = 20.0) -> None:
    def ok():
        r = redis.Redis(*cluster.leader(5).redis_address, socket_timeout=5)
        try:
            return r.set(key, value)
        finally:
            r.close()
    wait_until(ok, timeout_s, f"SET {key} to succeed")


def _assert_rejoined(cluster, node) -> None:
    """Three healthy voters: one leader everyone agrees on, one term, the same applied index."""
    _write(cluster, "after-heal")
    leader = cluster.leader(20)
    commit = cluster.status(leader).commit_index
    cluster.wait_applied(commit, timeout_s=30)

    def agreed():
        statuses = [cluster.status(n) for n in cluster.nodes]
        terms = {s.term for s in statuses}
        roles = sorted(s.role for s in statuses)
        return len(terms) == 1 and roles == ["follower", "follower", "leader"] and all(
            s.applied_index >= commit for s in statuses)
    wait_until(agreed, 20, "one term, one leader, two followers, all applied")
    assert cluster.status(node).role in ("follower", "leader")

    def healthy(n):
        host, port = n.http_address
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as resp:
                return resp.status == 200
        except urllib.error.HTTPError:
            return False
    for n in cluster.nodes:
        wait_until(lambda: healthy(n), 10, f"{n.id} /health 200")


def _wait_exit(node, timeout_s: float) -> int:
    wait_until(lambda: not node.alive, timeout_s, f"{node.id} to stop on the disk fault")
    return node.proc.returncode


def _log_of(node) -> str:
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def test_read_only_data_dir_is_fail_stop_and_the_node_rejoins(tmpfs_cluster):
    cluster = tmpfs_cluster
    leader = cluster.leader()
    victim = next(n for n in cluster.nodes if n is not leader)
    _write(cluster, "before")
    diskfault.make_readonly(victim.data_dir)
    try:
        # Kill the leader: the victim now wants to campaign, i.e. raise its term.
        cluster.kill(leader)
        code = _wait_exit(victim, 15)
        assert code == EXIT_DISK_ERROR, code
        assert "Read-only file system" in _log_of(victim) and "stopping the node (exit status 74)" in _log_of(victim)
        cluster.restart(leader)
        survivors = [n for n in cluster.nodes if n is not victim]
        new_leader = cluster.leader(20)
        cluster_term = cluster.status(new_leader).term
        # The victim's term on disk is one the others have seen (it never acted on an unpersisted one).
        meta = DurableMetaStorer(os.path.join(victim.data_dir, "raft", "raft.journal.meta")).getMeta()
        assert meta.get("currentTerm", 0) <= cluster_term, (meta, cluster_term)
        assert all(cluster.status(n).term == cluster_term for n in survivors)
    finally:
        diskfault.make_writable(victim.data_dir)
    cluster.restart(victim)
    _assert_rejoined(cluster, victim)


def test_full_data_dir_is_fail_stop_and_the_node_rejoins(tmpfs_cluster):
    cluster = tmpfs_cluster
    leader = cluster.leader()
    victim = next(n for n in cluster.nodes if n is not leader)
    _write(cluster, "before")
    diskfault.fill(victim.data_dir)
    try:
        value = os.urandom(64 << 10)
        deadline = time.monotonic() + 20
        i = 0
        while victim.alive and time.monotonic() < deadline:
            _write(cluster, f"fill{i % 50}", value)
            i += 1
        code = _wait_exit(victim, 5)
        assert code == EXIT_DISK_ERROR, code
        assert "No space left on device" in _log_of(victim)
        _write(cluster, "while-down")  # two of three still serve
    finally:
        diskfault.unfill(victim.data_dir)
    cluster.restart(victim)
    _assert_rejoined(cluster, victim)


def test_a_node_with_a_higher_term_is_not_excluded_forever(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    victim = next(n for n in cluster.nodes if n is not leader)
    _write(cluster, "before")
    term = cluster.status(leader).term
    cluster.kill(victim)
    meta_path = os.path.join(victim.data_dir, "raft", "raft.journal.meta")
    store = DurableMetaStorer(meta_path)
    meta = store.getMeta()
    meta["currentTerm"] = term + 80
    meta["votedForNodeId"] = None
    store.storeMeta(meta)
    _write(cluster, "while-down")
    cluster.restart(victim)
    _assert_rejoined(cluster, victim)
    assert cluster.status(victim).term > term + 80
