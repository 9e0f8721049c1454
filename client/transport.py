"""The client's network: one grpc.aio channel per node, calls that raise typed errors.

`Transport` is the narrow interface the engine and the admin calls use
(httpcore-style: unit tests inject a fake one). `GrpcTransport` implements it
over the Cache, Admin and gRPC health services; every failure comes out as a
raftcache.client.errors exception, mapped from the status's ErrorInfo reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from raftcache.client.errors import ConnectionFailedError, error_from_rpc
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc

# Reconnect quickly after a node restarts: gRPC's default backoff grows to
# two minutes, far longer than a failover takes.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.max_send_message_length", 1 << 30),
    # One channel per node: do not let gRPC share sub-channels between clients.
    ("grpc.use_local_subchannel_pool", 1),
)


def ignore_poller_noise(loop) -> None:
    """Silence grpc.aio's spurious BlockingIOError logs on `loop`.

    grpc.aio binds every event loop that uses it to one process-wide
    completion-queue socket; with loops in several threads (a sync Client's
    private loop beside an application's loop), each event wakes every loop
    and all but one log a BlockingIOError from
    PollerCompletionQueue._handle_events. The calls themselves are fine
    (upstream grpc/grpc#25364, fix proposed in #36096).
    """
    previous = loop.get_exception_handler()

    def handler(loop, context):
        if isinstance(context.get("exception"), BlockingIOError) and "PollerCompletionQueue" in repr(
                context.get("handle")):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class Transport(Protocol):
    """What the engine needs from the network. Every method raises RaftcacheError subclasses."""

    async def execute(self, address: str, request: cache_pb2.Request, timeout_s: float) -> cache_pb2.Reply: ...

    async def pipeline(self, address: str, batch: cache_pb2.RequestBatch, timeout_s: float) -> cache_pb2.ReplyBatch: ...

    async def topology(self, address: str, timeout_s: float) -> admin_pb2.TopologyReply: ...

    async def status(self, address: str, timeout_s: float) -> admin_pb2.StatusReply: ...

    def subscribe(self, address: str, request: cache_pb2.SubscribeRequest) -> SubscriptionCall: ...

    async def admin(self, address: str, method: str, request, timeout_s: float,
                    metadata: tuple[tuple[str, str], ...] = ()) -> object:
        """A unary call of the Admin service by method name ("AddNode", …), with extra metadata."""

    def backup(self, address: str, timeout_s: float,
               metadata: tuple[tuple[str, str], ...] = ()) -> AsyncIterator[admin_pb2.BackupChunk]: ...

    async def health(self, address: str, timeout_s: float) -> str:
        """The node's gRPC health status name: "SERVING", "NOT_SERVING", …"""

    async def close(self) -> None: ...


class SubscriptionCall:
    """An open Cache.Subscribe stream: `read()` the next item (None once it ended)."""

    def __init__(self, call):
        self._call = call

    async def read(self):
        try:
            item = await self._call.read()
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        return None if item is grpc.aio.EOF else item

    def cancel(self) -> None:
        self._call.cancel()


class GrpcTransport:
    def __init__(self, credentials: grpc.ChannelCredentials | None = None,
                 metadata: tuple[tuple[str, str], ...] = (), options: tuple = ()):
        self._credentials = credentials
        self._metadata = tuple(metadata) or None
        self._options = _CHANNEL_OPTIONS + tuple(options)
        self._channels: dict[str, tuple[grpc.aio.Channel, cache_pb2_grpc.CacheStub, admin_pb2_grpc.AdminStub]] = {}

    def _stubs(self, address: str):
        entry = self._channels.get(address)
        if entry is None:
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(address, self._credentials, options=self._options)
            else:
                channel = grpc.aio.insecure_channel(address, options=self._options)
            entry = self._channels[address] = (channel, cache_pb2_grpc.CacheStub(channel),
                                               admin_pb2_grpc.AdminStub(channel))
        return entry

    async def execute(self, address, request, timeout_s):
        try:
            return await self._stubs(address)[1].Execute(request, timeout=timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None

    async def pipeline(self, address, batch, timeout_s):
        call = self._stubs(address)[1].Pipeline(timeout=timeout_s, metadata=self._metadata)
        try:
            await call.write(batch)
            reply = await call.read()
            await call.done_writing()
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        finally:
            if not call.done():
                call.cancel()
        if reply is grpc.aio.EOF:
            raise ConnectionFailedError("the pipeline stream ended without a reply")
        return reply

    def subscribe(self, address, request):
        return SubscriptionCall(self._stubs(address)[1].Subscribe(request, metadata=self._metadata))

    async def topology(self, address, timeout_s):
        return await self.admin(address, "Topology", admin_pb2.TopologyRequest(), timeout_s)

    async def status(self, address, timeout_s):
        return await self.admin(address, "Status", admin_pb2.StatusRequest(), timeout_s)

    async def admin(self, address, method, request, timeout_s, metadata=()):
        try:
            return await getattr(self._stubs(address)[2], method)(request, timeout=timeout_s,
                                                                 metadata=self._with(metadata))
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None

    async def backup(self, address, timeout_s, metadata=()):
        call = self._stubs(address)[2].Backup(admin_pb2.BackupRequest(), timeout=timeout_s,
                                               metadata=self._with(metadata))
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        finally:
            call.cancel()

    async def health(self, address, timeout_s):
        stub = health_pb2_grpc.HealthStub(self._stubs(address)[0])
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s,
                                     metadata=self._metadata)
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def _with(self, metadata: tuple[tuple[str, str], ...]) -> tuple | None:
        return (self._metadata or ()) + tuple(metadata) or None

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel, _, _ in channels.values():
            await channel.close()
