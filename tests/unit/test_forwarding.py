"""GrpcForwarder's channels: one per peer, replaced (and the old one closed) when the peer's
address changes in a live map, all closed by close()."""

from __future__ import annotations

import asyncio

import grpc

from raftcache.node.service.forwarding import GrpcForwarder
from raftcache.peers import Peer


def test_a_moved_peer_gets_a_new_channel_and_the_old_one_is_closed():
    peers = {"n2": Peer("n2", "b", "127.0.0.1", 41000)}

    async def go():
        forwarder = GrpcForwarder(peers, "secret", timeout_s=0.5)
        first = forwarder._stub("n2")
        assert forwarder._stub("n2") is first, "one channel per peer while its address holds"
        old_channel = forwarder._stubs["n2"][1]
        peers["n2"] = Peer("n2", "b", "127.0.0.1", 42000)   # the map now places n2 elsewhere
        assert forwarder._stub("n2") is not first
        new_channel = forwarder._stubs["n2"][1]
        await asyncio.wait_for(asyncio.gather(*forwarder._retired), timeout=5)
        assert old_channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
        assert new_channel.get_state() != grpc.ChannelConnectivity.SHUTDOWN
        await forwarder.close()
        assert new_channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN

    asyncio.run(go())
