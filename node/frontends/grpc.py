"""The gRPC front end (grpc.aio): Cache, Admin, Internal and the health service.

Bytes in (protobuf requests), run by the session runner (node/service/session.py:
a Pipeline stream is one session), replies out. Command errors of
a unary call become a gRPC status with an ErrorInfo reason (one table:
node/grpc_codec.STATUS_CODES); inside a pipeline they are Value.error items
and the stream goes on. No business logic here.

Who calls: the ACL user of the call's credentials (node/frontends/grpc_auth.py),
every command checked as the Redis command it is (acl_catalog.command_guard).
With TLS configured the port speaks TLS only (node/service/tls.py).
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from raftcache.node import commands
from raftcache.node.service import grpc_codec
from raftcache.node.commands.strings import is_plain_set
from raftcache.node.errors import CommandError, NotLeaderError, RaftcacheError, Reason, UnavailableError
from raftcache.node.service.forwarding import SECRET_METADATA
from raftcache.node.frontends import acl_catalog, client_limits, grpc_auth
from raftcache.node.frontends.grpc_admin import AdminServicer
from raftcache.node.service.access import REPORT_MAX_KEYS
from raftcache.node.service.diagnostics import command_args
from raftcache.node.service.service import Service
from raftcache.node.service.session import MAX_IN_FLIGHT, Session
from raftcache.node.service.tracking import Tracking
from raftcache.node.service.waiters import when_settled
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc

log = logging.getLogger(__name__)


async def _abort(context, error: RaftcacheError):
    status = grpc_codec.error_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


MALFORMED = object()  # what a request that does not parse deserializes to


def _lenient(message_class):
    """A deserializer that yields MALFORMED instead of raising, so the
    servicer can answer INVALID_ARGUMENT rather than gRPC's UNKNOWN."""

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except Exception:  # DecodeError and friends
            return MALFORMED

    return parse


def _add_cache_servicer(servicer: "CacheServicer", server) -> None:
    handlers = {
        "Execute": grpc.unary_unary_rpc_method_handler(
            servicer.Execute,
            request_deserializer=_lenient(cache_pb2.Request),
            response_serializer=cache_pb2.Reply.SerializeToString,
        ),
        "Pipeline": grpc.stream_stream_rpc_method_handler(
            servicer.Pipeline,
            request_deserializer=_lenient(cache_pb2.RequestBatch),
            response_serializer=cache_pb2.ReplyBatch.SerializeToString,
        ),
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe,
            request_deserializer=_lenient(cache_pb2.SubscribeRequest),
            response_serializer=cache_pb2.PubSubMessage.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("raftcache.v1.Cache", handlers),))


class CacheServicer(cache_pb2_grpc.CacheServicer):
    def __init__(self, service: Service, login: grpc_auth.Login):
        self._service = service
        self._login = login

    async def _session(self, context) -> Session:
        user = await self._login.user(context)
        return Session(self._service, "grpc", context.peer(), user=user, guard=acl_catalog.command_guard)

    async def Execute(self, request, context):
        if request is MALFORMED:
            await _abort(context, CommandError("malformed request: not a raftcache.v1.Request", Reason.INVALID_ARGUMENT))
        started_ns = time.perf_counter_ns()
        session = await self._session(context)
        try:
            command, consistency, client_id, sequence = grpc_codec.request_from_proto(request)
        except RaftcacheError as e:
            await _abort(context, e)
        started_ns = time.perf_counter_ns()
        outcome = await session.execute(command, consistency, client_id, sequence)
        self._service.opstats.latency["grpc"].record(started_ns)
        _finished(session, command, started_ns)
        if isinstance(outcome, RaftcacheError):
            await _abort(context, outcome)
        if isinstance(outcome[0], CommandError):
            await _abort(context, outcome[0])
        return grpc_codec.outcome_to_reply(outcome)

    async def Pipeline(self, request_iterator, context):
        session = await self._session(context)
        async for batch in request_iterator:
            if batch is MALFORMED:
                await _abort(context, CommandError("malformed request: not a raftcache.v1.RequestBatch", Reason.INVALID_ARGUMENT))
            yield await _run_batch(session, batch)


    async def Subscribe(self, request, context):
        """Pub/Sub: this node's deliveries of the subscribed channels (node/service/pubsub.py),
        bounded by the pubsub class of client-output-buffer-limit's hard limit."""
        if request is MALFORMED:
            await _abort(context, CommandError("malformed request: not a raftcache.v1.SubscribeRequest",
                                               Reason.INVALID_ARGUMENT))
        service = self._service
        user = await self._login.user(context)
        refused = acl_catalog.check_subscription(service.identity, user, request, f"addr={context.peer()} proto=grpc")
        if refused is not None:
            await _abort(context, refused)
        stream = SubscriberStream(_pubsub_limit_bytes(service))
        hub = service.pubsub
        subs = hub.subscriptions(stream.push)
        tracking = None
        try:
            for channel in request.channels:
                hub.subscribe(subs, channel)
            for pattern in request.patterns:
                hub.psubscribe(subs, pattern)
            for channel in request.shard_channels:
                hub.ssubscribe(subs, channel)
            if request.invalidations:
                tracking = Tracking(lambda keys, index: stream.push([b"invalidate", keys, index]), bcast=True)
                service.tracking.start(tracking)
            # Every write applied after this index has its invalidation on this stream
            # (StateMachine.set_track_writes switched between two applies).
            yield cache_pb2.PubSubMessage(kind="subscribed", index=service.applied_index)
            while True:
                frame = await stream.next()
                if frame is None:
                    await _abort(context, CommandError("the subscriber fell behind by more than the pubsub "
                                                       "output limit", Reason.UNAVAILABLE))
                if frame[0] == b"invalidate":
                    yield cache_pb2.PubSubMessage(kind="invalidate", keys=frame[1] or [], index=frame[2],
                                                  all=frame[1] is None)
                elif frame[0] == b"pmessage":
                    yield cache_pb2.PubSubMessage(kind="pmessage", pattern=frame[1], channel=frame[2],
                                                  data=frame[3])
                else:
                    yield cache_pb2.PubSubMessage(kind=frame[0].decode(), channel=frame[1], data=frame[2])
        finally:
            hub.drop(subs)
            if tracking is not None:
                service.tracking.stop(tracking)


def _pubsub_limit_bytes(service: Service) -> int:
    limits = client_limits.from_settings(service.settings, service.limits.max_value_bytes,
                                         service.limits.maxmemory_bytes)
    return limits.pubsub.hard_bytes


class SubscriberStream:
    """The messages waiting for one gRPC subscriber, at most `limit_bytes` of them (0: no limit);
    past it the stream ends (as Redis drops a subscriber past its output limit)."""

    def __init__(self, limit_bytes: int):
        self._queue: collections.deque = collections.deque()
        self._bytes = 0
        self._limit = limit_bytes
        self._ready = asyncio.Event()
        self.overflowed = False

    def push(self, frame: list) -> None:
        if self.overflowed:
            return
        size = sum(len(part) if type(part) is bytes else 64 for part in frame if part is not None)
        if frame[0] == b"invalidate" and frame[1]:
            size += sum(len(key) for key in frame[1])
        if self._limit and self._bytes + size > self._limit:
            self.overflowed = True
        else:
            self._queue.append((frame, size))
            self._bytes += size
        self._ready.set()

    async def next(self) -> list | None:
        """The next frame; None once the subscriber fell behind past the limit."""
        while not self._queue or self.overflowed:
            if self.overflowed:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame, size = self._queue.popleft()
        self._bytes -= size
        return frame


def _finished(session: Session, command, started_ns: int) -> None:
    """The node's diagnostics see the command under its Redis name (SLOWLOG, LATENCY, MONITOR).
    A command too malformed to name (an enum out of range: it was answered with an error) is
    recorded under its op's name; nothing here may fail the reply."""
    if session.forwarded:
        return   # a follower's clients' commands: that follower recorded them
    try:
        name = acl_catalog.op_command(command)
    except (KeyError, IndexError, ValueError):
        name = command.WhichOneof("op") or "noop"
    usec = (time.perf_counter_ns() - started_ns) // 1000
    wanted = session.service.diagnostics.wants_args(usec)   # rendering them costs: only when they are shown
    session.finished(name, command_args(command) if wanted else [], usec)


def _timed_render(session: Session, command, latency, arrived_ns: int):
    """The reply of one request of a batch: its time in the slow log and histograms from now,
    in the per-protocol latency (`latency`) from the batch's arrival."""
    started_ns = time.perf_counter_ns()

    def render(outcome):
        _finished(session, command, started_ns)
        latency.record(arrived_ns)
        return grpc_codec.outcome_to_reply(outcome)
    return render


async def _run_batch(session: Session, batch) -> cache_pb2.ReplyBatch:
    """One RequestBatch of a Pipeline stream; each request's latency counts from the batch's arrival."""
    latency = session.service.opstats.latency["grpc"]
    arrived_ns = time.perf_counter_ns()
    run = session.run()
    for request in batch.requests:
        try:
            command, consistency, client_id, sequence = grpc_codec.request_from_proto(request,
                                                                                     client=not session.forwarded)
        except RaftcacheError as e:
            run.reply(grpc_codec.outcome_to_reply(e))
            continue
        await run.add(command, _timed_render(session, command, latency, arrived_ns), consistency, client_id, sequence)
    await run.settle()
    out = cache_pb2.ReplyBatch()
    out.replies.extend(run.take())
    return out


class RaftForwardedBatches:
    """The leader's end of forwarding over the Raft connection (node/raft/forwards.py,
    Replicator.serve_forwards): each follower's batch runs as a ForwardBatch call does, its
    writes proposed as it arrives when each is of its own client (_propose_now), else in a
    task of its own; `reply` gets the ReplyBatch's bytes or the batch's error, once."""

    def __init__(self, service: Service):
        self._service = service
        self._tasks: set[asyncio.Task] = set()

    def __call__(self, data: bytes, reply) -> None:
        batch = _lenient(cache_pb2.RequestBatch)(data)
        if batch is MALFORMED:
            reply(None, UnavailableError("malformed forwarded batch: not a raftcache.v1.RequestBatch"))
        elif not self._service.is_leader:
            reply(None, NotLeaderError("not the leader"))
        elif not self._propose_now(batch, reply):
            task = asyncio.ensure_future(self._run(batch, reply))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _propose_now(self, batch, reply) -> bool:
        """The common batch, writes each of its own client that the log's version in force allows
        (as RaftForwarder sends them), proposed now with no task (in this loop turn's group
        commit) and answered from the callbacks of their futures, as `_run` would answer it;
        False: `_run` takes the batch (a read, a request that does not decode, a client twice, a
        write that waits for the log's version: `_run` keeps such a write's order)."""
        service = self._service
        if not 0 < len(batch.requests) <= MAX_IN_FLIGHT:
            return False
        try:
            requests = [grpc_codec.request_from_proto(request, client=False) for request in batch.requests]
            clients = {client_id for _, _, client_id, _ in requests}
            if len(clients) != len(requests) or "" in clients or any(
                    commands.is_read(command) or commands.required_version(command) > service.log_version
                    for command, _, _, _ in requests):
                return False
        except Exception:  # noqa: BLE001 - a request that does not decode: `_run` answers it in its slot
            return False
        session = Session(service, "grpc", "raft-peer", forwarded=True)
        latency = service.opstats.latency["grpc"]
        arrived_ns = time.perf_counter_ns()
        futures = self._start_plain_sets(requests)
        if futures is None:
            futures = [self._start_write(command, client_id, sequence) for command, _, client_id, sequence in requests]
        writes = [(fut, _timed_render(session, command, latency, arrived_ns), command)
                  for fut, (command, _, _, _) in zip(futures, requests)]
        def answered() -> None:
            try:
                if any(fut.cancelled() for fut, _, _ in writes):
                    reply(None, UnavailableError("the node is stopping"))
                    return
                out = cache_pb2.ReplyBatch()
                out.replies.extend([render(session._settled_outcome(command, fut)) for fut, render, command in writes])
            except Exception as e:  # noqa: BLE001 - a bug: the follower retries (the writes carry their dedup identity)
                log.exception("a forwarded batch failed")
                reply(None, UnavailableError(f"the forwarded batch failed on the leader ({type(e).__name__})"))
                return
            reply(out.SerializeToString(), None)

        when_settled([fut for fut, _, _ in writes], answered)
        return True

    def _start_plain_sets(self, requests: list) -> list[asyncio.Future] | None:
        """The futures of a batch of plain SETs (a follower's pipeline of them: strings.is_plain_set)
        proposed as the leader's own plain SETs are (Service.start_plain_sets), each with its
        identity; None for any other batch, or when that failed (a bug: the batch is proposed
        again one by one, a write queued already then applied once and answered as a replay of
        its identity, though counted twice in the node's stats)."""
        sets = [command for command, _, _, _ in requests]
        if not all(is_plain_set(command) for command in sets):
            return None
        try:
            started = self._service.start_plain_sets(sets, [(client_id, sequence) for _, _, client_id, sequence
                                                            in requests], forward=False)
        except Exception:  # noqa: BLE001 - a bug: the writes go the common way
            log.exception("proposing a forwarded batch of SETs failed")
            return None
        return [fut for fut, _ in started]

    def _start_write(self, command, client_id: str, sequence: int) -> asyncio.Future:
        """The future of one forwarded write, proposed now (start_write); a bug fails that write's slot
        alone, and the follower retries it."""
        try:
            return self._service.start_write(command, client_id, sequence, forward=False)[0]
        except Exception as e:  # noqa: BLE001 - a bug: that write's slot says so, the follower retries it
            log.exception("proposing a forwarded write failed")
            fut = asyncio.get_running_loop().create_future()
            fut.set_exception(UnavailableError(f"the forwarded write failed on the leader ({type(e).__name__})"))
            return fut

    async def _run(self, batch, reply) -> None:
        try:
            out = await _run_batch(Session(self._service, "grpc", "raft-peer", forwarded=True), batch)
        except asyncio.CancelledError:
            reply(None, UnavailableError("the node is stopping"))
            raise
        except Exception as e:   # a bug: the follower retries (the writes carry their dedup identity)
            log.exception("a forwarded batch failed")
            reply(None, UnavailableError(f"the forwarded batch failed on the leader ({type(e).__name__})"))
            return
        reply(out.SerializeToString(), None)


class InternalServicer(admin_pb2_grpc.InternalServicer):
    """Node-to-node calls; every call must carry the cluster secret."""

    def __init__(self, service: Service, secret: str):
        self._service = service
        self._secret = secret.encode()

    async def _check(self, context):
        for key, value in context.invocation_metadata() or ():
            if key == SECRET_METADATA and hmac.compare_digest(value.encode(), self._secret):
                return
        await _abort(context, CommandError("bad or missing cluster secret", Reason.UNAUTHENTICATED))

    async def Forward(self, request, context):
        await self._check(context)
        try:
            request = grpc_codec.request_from_proto(request, client=False)
        except RaftcacheError as e:
            return grpc_codec.outcome_to_reply(e)
        return grpc_codec.outcome_to_reply(await Session(self._service, "grpc", forwarded=True).execute(*request))

    async def ForwardBatch(self, request, context):
        await self._check(context)
        if not self._service.is_leader:
            await _abort(context, CommandError("not the leader", Reason.NOT_LEADER))
        return await _run_batch(Session(self._service, "grpc", context.peer(), forwarded=True), request)

    async def ReportAccess(self, request, context):
        """A follower's reads, for the leader's eviction choices (bounded as the follower bounds them)."""
        await self._check(context)
        limit = self._service.limits.max_key_bytes
        self._service.merge_access_report([(k.db, k.key, k.count, k.age_ms) for k in request.keys[:REPORT_MAX_KEYS]
                                           if len(k.key) <= limit])
        return admin_pb2.AccessReportReply()


async def start_server(service: Service, host: str, port: int, tls=None,
                       plaintext_port: int = 0) -> tuple[grpc.aio.Server, health.HealthServicer]:
    """Start the gRPC server on host:port (TLS only when `tls`, node/service/tls.TlsContexts,
    is given; with `plaintext_port` too, plaintext there as well: `--tls-plaintext-port-offset`);
    returns it and its health servicer."""
    # Fixed at start: raising proto-max-bulk-len later takes effect here after a restart.
    max_request = grpc_codec.request_size_limit(service.config.keyspace.max_value_bytes,
                                                service.limits.max_value_bytes)
    server = grpc.aio.server(
        options=[
            *grpc_codec.server_options(max_request),
            ("grpc.so_reuseport", 0),
        ]
    )
    login = grpc_auth.Login(service.identity, cn_login=tls is not None and tls.cn_login,
                            secret=service.config.replication.cluster_secret)
    _add_cache_servicer(CacheServicer(service, login), server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(service, login), server)
    admin_pb2_grpc.add_InternalServicer_to_server(
        InternalServicer(service, service.config.replication.cluster_secret), server
    )
    health_servicer = health.aio.HealthServicer()
    await health_servicer.set("", NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if tls is not None:
        bound = server.add_secure_port(f"{host}:{port}", tls.grpc_server_credentials())
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port}")
    if tls is not None and plaintext_port and server.add_insecure_port(f"{host}:{plaintext_port}") == 0:
        raise OSError(f"cannot bind the plaintext gRPC port {host}:{plaintext_port}")
    await server.start()
    _background.add(asyncio.ensure_future(_track_health(service, health_servicer)))
    return server, health_servicer


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_background: set = set()


async def _track_health(service: Service, servicer, interval_s: float = 0.2) -> None:
    """SERVING while node/service/health.py judges the node healthy (the verdict of
    /health: a leader with recent majority contact, or a follower with recent
    leader contact, applied close to the commit index); NOT_SERVING during
    elections, when cut off, a leader without a quorum, or far behind.
    Both the overall ("") and the raftcache.v1.Cache service statuses."""
    from raftcache.node.service import health

    contact_limit_s = health.contact_max_s(service.config.replication.election_timeout_max_s)
    current = None
    while True:
        ready = health.assess(service.health_fields(), contact_limit_s).healthy
        status = SERVING if ready else NOT_SERVING
        if status != current:
            current = status
            for name in ("", "raftcache.v1.Cache"):
                await servicer.set(name, status)
        await asyncio.sleep(interval_s)
