"""The SDK's operator calls (client.admin) against a real cluster.

Status, topology and health of the node named or the first seed that
answers; an online backup that `verify` accepts; leadership moved and a
voter removed through the leader; the cluster secret refused when wrong. (`raftcache ctl`, built on these, is tested in test_cli.py and
test_operations*.py.)
"""

from __future__ import annotations

import asyncio
import os

import pytest

from raftcache.client import AsyncClient, AuthenticationError, Client
from raftcache.node.ops import backup


def test_node_calls_and_a_backup(cluster, tmp_path):
    leader, follower = cluster.leader(), cluster.followers()[0]
    seeds = ["127.0.0.1:1", follower.grpc_address, leader.grpc_address]     # the first one is dead
    with Client(seeds, cluster_secret=cluster.secret, connect_timeout_s=1, attempt_timeout_s=1) as c:
        c.set("k", "v")
        assert c.admin.find_node() == follower.grpc_address
        status = c.admin.status()
        assert (status.id, status.role, status.leader_id) == (follower.id, "follower", leader.id)
        assert c.admin.status(leader.grpc_address).role == "leader"
        topology = c.admin.topology()
        assert sorted(m.id for m in topology.members) == sorted(n.id for n in cluster.nodes)
        assert topology.leader_id == leader.id
        assert c.admin.health() == "SERVING"
        assert c.admin.leader_address() == leader.grpc_address

        path = tmp_path / "b.rcbak"
        info = c.admin.backup(str(path))
        assert info.node_id == follower.id and info.total_bytes == os.path.getsize(path)
        assert os.stat(path).st_mode & 0o777 == 0o600
        meta = backup.verify(str(path))
        assert (meta.applied_index, meta.key_count, meta.cluster_id) == (info.applied_index, 1, info.cluster_id)


def test_a_wrong_secret_is_refused(cluster, tmp_path):
    with Client([cluster.nodes[0].grpc_address], cluster_secret="not-it") as c:
        with pytest.raises(AuthenticationError):
            c.admin.backup(str(tmp_path / "b.rcbak"))
        with pytest.raises(AuthenticationError):
            c.admin.transfer_leader()
    assert list(tmp_path.iterdir()) == []


def test_leadership_and_membership_through_the_leader(make_cluster):
    c = make_cluster(3)
    old = c.leader()

    async def main():
        async with AsyncClient([n.grpc_address for n in c.nodes], cluster_secret=c.secret) as client:
            target = next(n for n in c.nodes if n is not old)
            moved = await client.admin.transfer_leader(target.id)
            assert moved.leader_id == target.id
            removed = next(n for n in c.nodes if n is not target)
            reply = await client.admin.remove_node(removed.id)
            assert sorted(m.id for m in reply.members) == sorted(n.id for n in c.nodes if n is not removed)
            return removed

    removed = asyncio.run(main())
    c.stop(removed)
    c.nodes.remove(removed)
    assert c.leader().id != removed.id
