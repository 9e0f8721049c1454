"""Node-to-node forwarding: a follower sends writes and strong reads to the leader.

One grpc.aio channel per peer, opened lazily, calling the leader's
Internal.Forward / Internal.ForwardBatch with the cluster secret in the
call metadata. Errors come back as raftcache errors (UnavailableError and
NotLeaderError are retryable; the service retries them against the next
leader). Must not touch the keyspace or Raft.
"""

from __future__ import annotations

import grpc

from raftcache.node import grpc_codec
from raftcache.node.config import Peer
from raftcache.node.errors import DeadlineError, UnavailableError
from raftcache.proto import admin_pb2_grpc, cache_pb2

SECRET_METADATA = "x-raftcache-secret"


class GrpcForwarder:
    """Implements service.Forwarder over the peers' gRPC ports."""

    def __init__(self, peers: dict[str, Peer], secret: str, timeout_s: float):
        self._peers = peers
        self._metadata = ((SECRET_METADATA, secret),)
        self._timeout_s = timeout_s
        self._stubs: dict[str, admin_pb2_grpc.InternalStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def _stub(self, node_id: str) -> admin_pb2_grpc.InternalStub:
        stub = self._stubs.get(node_id)
        if stub is None:
            peer = self._peers.get(node_id)
            if peer is None:
                raise UnavailableError(f"leader {node_id} is not a known member")
            channel = grpc.aio.insecure_channel(peer.address("grpc"), options=grpc_codec.MESSAGE_SIZE_OPTIONS)
            self._channels.append(channel)
            stub = self._stubs[node_id] = admin_pb2_grpc.InternalStub(channel)
        return stub

    async def forward(self, node_id, command, consistency, client_id, sequence):
        request = grpc_codec.request_to_proto(command, consistency, client_id, sequence)
        try:
            reply = await self._stub(node_id).Forward(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None
        outcome = grpc_codec.reply_to_outcome(reply)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def forward_batch(self, node_id, requests):
        batch = cache_pb2.RequestBatch()
        for command, consistency, client_id, sequence in requests:
            grpc_codec.request_to_proto(command, consistency, client_id, sequence, batch.requests.add())
        try:
            replies = await self._stub(node_id).ForwardBatch(batch, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None
        return [grpc_codec.reply_to_outcome(r) for r in replies.replies]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def _error(e: grpc.aio.AioRpcError):
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineError("the leader did not answer in time; the outcome is unknown")
    return grpc_codec.error_from_status(e.code(), e.details(), e.trailing_metadata())
