"""Operations on real clusters: backup and restore, scaling out and in, replacing a node.

- A backup taken while a client writes restores, into a new cluster, to the
  same keyspace (same digest, keys, values, types and absolute deadlines),
  and the new cluster's own log is applied on top of it.
- A truncated or corrupted backup is refused by `node --restore`,
  `up --restore` and `ctl verify` with one line, before anything changes.
- A fourth node is added while a client writes, a follower and then the
  leader are removed, with no failed client request; a dead node is replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys


from raftcache.node.ops import backup
from raftcache.node.config import KeyspaceConfig
from raftcache.node.storage.keyspace import Keyspace, Record, ValueType
from raftcache.proto import admin_pb2
from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import wait_until
from tests.cluster import Cluster
from tests.integration.ops_load import Load, value_of


def addresses(c: Cluster) -> list[str]:
    return [n.grpc_address for n in c.alive_nodes()]


def voters(c: Cluster, node=None) -> list[str]:
    topo = c.admin(node or c.alive_nodes()[0]).Topology(admin_pb2.TopologyRequest(), timeout=2)
    return sorted(m.id for m in topo.members if m.voter)


def assert_voters(c: Cluster, expected) -> None:
    """Every live node reports exactly `expected` as voters (membership reaches followers with the log)."""
    want = sorted(expected)
    for node in c.alive_nodes():
        wait_until(lambda: voters(c, node) == want, 10, f"{node.id} to report voters {want}")


def get(c: Cluster, node, key: bytes, level: str = "any") -> object:
    return value_of(c.execute(node, pb.Command(get=pb.Get(key=key)), level=level))


# ---------------------------------------------------------------- backup and restore

def test_backup_under_write_load_restores_the_same_keyspace(make_cluster, tmp_path):
    src = make_cluster(3)
    path = str(tmp_path / "live.rcbak")
    with Load(addresses(src), prefix="b", max_ops=5_000) as load:
        load.wait_for(300)
        follower = src.followers()[0]
        out = src.ctl("backup", "--out", path, endpoint=follower)      # online, on a follower
        assert "backup" in out.stdout and os.path.exists(path)
        assert os.stat(path).st_mode & 0o777 == 0o600, "a backup holds every value: owner only"
        before = len(load.acked)
        load.wait_for(before + 100)                                     # writes went on meanwhile
    assert load.failures == []
    meta = backup.verify(path)
    assert meta.key_count >= 300 and meta.applied_index > 0 and meta.cluster_id.startswith("rc-")

    dst = make_cluster(3, extra_args=["--restore", path])
    check = str(tmp_path / "restored.rcbak")
    dst.ctl("backup", "--out", check)
    restored = backup.verify(check)
    assert (restored.digest, restored.key_count) == (meta.digest, meta.key_count)
    assert restored.cluster_id != meta.cluster_id                     # a new cluster

    # Every node of the new cluster holds exactly the backup's keys, with the
    # source's values, types and absolute deadlines.
    leader = dst.leader()
    for node in dst.nodes:
        n = value_of(dst.execute(node, pb.Command(db_size=pb.DbSize()), level="any"))
        assert n == meta.key_count
    sample = [k for k in list(load.acked)[:400:7] if not k.endswith(b"9")]   # strings (every 10th is a hash)
    present = 0
    for key in sample:
        got = get(dst, leader, key)
        if got is not None:
            present += 1
            assert got == get(src, src.leader(), key)
    assert present > 0
    hkey = next(k for k in load.acked if k.endswith(b"9"))
    hget = pb.Command(hget=pb.HGet(key=hkey, field=b"f"))
    assert value_of(dst.execute(leader, hget, level="any")) == load.acked[hkey]
    assert value_of(dst.execute(leader, pb.Command(type=pb.Type(key=hkey)), level="any")) in ("hash", b"hash")
    tkey = b"b6"                                                      # written with a 1 h TTL
    ttl = pb.Command(ttl=pb.Ttl(key=tkey, millis=True))
    src_ttl = value_of(src.execute(src.leader(), ttl, level="any"))
    dst_ttl = value_of(dst.execute(leader, ttl, level="any"))
    assert 3_000_000 < dst_ttl <= 3_600_000 and abs(src_ttl - dst_ttl) < 3_000

    # The new cluster's log (starting again at 1) is applied, never skipped.
    reply = dst.execute(leader, pb.Command(set=pb.Set(key=b"after-restore", value=b"yes")))
    dst.wait_applied(reply.index)
    for node in dst.nodes:
        assert get(dst, node, b"after-restore") == b"yes"


def _offline_backup(tmp_path) -> str:
    ks = Keyspace(KeyspaceConfig(path=str(tmp_path / "src")))
    try:
        with ks.writer(3) as txn:
            txn.put(0, b"k", Record(ValueType.STRING, b"v"))
        path = str(tmp_path / "good.rcbak")
        backup.build(ks, path, cluster_id="rc-offline", term=1, node_id="n1", zone="a")
    finally:
        ks.close()
    return path


def _raftcache(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET="s")
    return subprocess.run([sys.executable, "-m", "raftcache", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def test_corrupted_or_truncated_backup_is_refused_before_anything_changes(tmp_path):
    good = _offline_backup(tmp_path)
    ok = _raftcache("ctl", "verify", good)
    assert ok.returncode == 0 and ok.stdout.startswith("ok:")
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.rcbak"
    truncated.write_bytes(data[: len(data) - 500])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    corrupted = tmp_path / "corrupted.rcbak"
    corrupted.write_bytes(bytes(flipped))
    for bad, word in ((truncated, "truncated"), (corrupted, "checksum mismatch")):
        verify = _raftcache("ctl", "verify", str(bad))
        assert verify.returncode == 1 and word in verify.stderr and verify.stderr.count("\n") == 1

        node_dir = tmp_path / f"node-{bad.stem}"
        node = _raftcache("node", "--id", "n1", "--base-port", "29990", "--data-dir", str(node_dir),
                          "--restore", str(bad))
        assert node.returncode == 2, node.stderr
        assert word in node.stderr and node.stderr.strip().count("\n") == 0, node.stderr
        assert not node_dir.exists() or not any(node_dir.rglob("*.mdb"))

        up_dir = tmp_path / f"up-{bad.stem}"
        up = _raftcache("up", "--nodes", "3", "--base-port", "29900", "--data-dir", str(up_dir),
                        "--restore", str(bad))
        assert up.returncode == 2 and word in up.stderr, up.stderr
        assert not up_dir.exists() or not any(up_dir.rglob("n*"))


# ---------------------------------------------------------------- scaling

def test_add_a_fourth_node_under_load_then_remove_a_follower_and_the_leader(make_cluster):
    c = make_cluster(3)
    with Load(addresses(c), prefix="s", max_ops=20_000, reads=True) as load:
        load.wait_for(100)
        n4 = c.new_node("n4", "a")
        c.spawn_ready(n4)
        waiting = c.status(n4)
        assert (waiting.role, waiting.leader_id) == ("joining", ""), "it waits to be added; it does not campaign"
        added = c.ctl("add-node", n4.peer.spec(), "--wait-timeout", "30", endpoint=c.alive_nodes()[0])
        assert "n4 catching up: 100%" in added.stderr, added.stderr   # the progress, a line per tenth off a tty
        with open(n4.log_path, encoding="utf-8") as f:
            joined = f.read()
        assert "snapshot received:" in joined and "installing snapshot finished" in joined, joined[-3000:]
        load.addresses.append(n4.grpc_address)
        assert_voters(c, ["n1", "n2", "n3", "n4"])
        mark = len(load.acked)
        load.wait_for(mark + 100)
        # the new node holds what was acknowledged before it joined (snapshot) and after (log)
        leader = c.leader()
        index = c.status(leader).commit_index
        c.wait_applied(index, [n4])
        for key in list(load.acked)[: mark : 13]:
            if not key.endswith(b"9"):
                assert get(c, n4, key) == load.acked[key]

        follower = next(n for n in c.followers() if n.id != "n4")
        load.addresses.remove(follower.grpc_address)
        c.remove_node(follower)
        assert_voters(c, {"n1", "n2", "n3", "n4"} - {follower.id})
        load.wait_for(len(load.acked) + 100)

        leader = c.leader()
        load.addresses.remove(leader.grpc_address)
        c.remove_node(leader)                           # hands leadership over first
        new_leader = c.leader()
        assert new_leader.id != leader.id
        assert_voters(c, {"n1", "n2", "n3", "n4"} - {follower.id, leader.id})
        load.wait_for(len(load.acked) + 100)
    assert load.failures == [], load.failures[:5]
    assert load.reads_done > 0
    status = c.status(c.leader())
    assert {m.member.id for m in status.members} == set(voters(c))


def test_replace_a_dead_node(make_cluster):
    c = make_cluster(3)
    leader = c.leader()
    for i in range(50):
        c.execute(leader, pb.Command(set=pb.Set(key=b"r%d" % i, value=b"%d" % i)))
    dead = c.followers()[0]
    c.kill(dead)
    c.ctl("remove-node", dead.id)
    c.nodes.remove(dead)
    assert_voters(c, [n.id for n in c.nodes])
    n4 = c.add_node("n4", dead.zone)
    assert_voters(c, [n.id for n in c.nodes])
    assert get(c, n4, b"r49") == b"49"
    out = c.ctl("status").stdout
    assert "warning" not in out and "n4" in out
    # without a replacement the voters span 2 zones: status warns
    c.stop(n4)
    c.ctl("remove-node", "n4")
    c.nodes.remove(n4)
    assert "voters span 2 zone(s)" in c.ctl("status").stdout
