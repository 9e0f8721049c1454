"""--advertise: the topology lists where clients reach each node, not where peers do.

In docker compose the nodes reach each other as n1, n2, n3, names the host
cannot resolve; each node advertises its published ports instead. Here every
node binds 127.0.0.1 and advertises `localhost` with the same ports: the
Topology of any node lists every member's advertised address (learnt from the
members' own Status), and the SDK, seeded with one address, routes by it.
"""

from __future__ import annotations

from raftcache.client import Client
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.localcluster import wait_until
from tests.cluster import Cluster


def test_topology_lists_every_members_advertised_address(tmp_path):
    cluster = Cluster(str(tmp_path / "c"), 3)
    for node in cluster.nodes:
        node.argv += ["--advertise", f"localhost:{node.peer.base_port}"]
    try:
        cluster.start()
        expected = {n.id: f"localhost:{n.peer.base_port}" for n in cluster.nodes}
        for node in cluster.nodes:
            stub = admin_pb2_grpc.AdminStub(cluster.channel(node))
            assert cluster.status(node).advertised.redis_address == f"localhost:{node.peer.base_port + 1}"

            def listed(stub=stub):
                members = stub.Topology(admin_pb2.TopologyRequest(), timeout=2).members
                return {m.id: m.grpc_address for m in members} == expected

            wait_until(listed, 20, f"{node.id}'s topology to list every advertised address")
        with Client([cluster.nodes[1].grpc_address], timeout_s=20) as rc:
            assert rc.set("through", "advertised") is True
            assert rc.get("through") == b"advertised"
            assert {n.address for n in rc.topology.nodes()} == set(expected.values())
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        cluster.close()
