"""Node-to-node forwarding: a follower sends writes (and, to an older leader, reads) to the leader.

One grpc.aio channel per peer, opened lazily, calling the leader's
Internal.Forward / Internal.ForwardBatch (and Internal.ReportAccess: the
keys a follower read, node/service/access.py) with the cluster secret in the
call metadata, over mutual TLS when the node has TLS (`peer_channel`). Errors come back as raftcache errors (UnavailableError and
NotLeaderError are retryable; the service retries them against the next
leader). `ForwardLanes` gives the writes a node forwards without an identity of
their own (Redis and memcached clients send none) one, so a retried forward is
applied once. Must not touch the keyspace or Raft.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable, Mapping

import grpc
from google.protobuf.message import DecodeError

from raftcache.node.service import grpc_codec
from raftcache.node.config import Peer
from raftcache.node.errors import CommandError, DeadlineError, RaftcacheError, Reason, UnavailableError
from raftcache.node.raft.forwards import ResendOverGrpc
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2

log = logging.getLogger(__name__)

SECRET_METADATA = "x-raftcache-secret"
_U32_MAX = (1 << 32) - 1


def peer_channel(address: str, credentials: grpc.ChannelCredentials | None = None, options=()) -> grpc.aio.Channel:
    """A channel to another node's gRPC port: TLS with `credentials` (node/service/tls.py), else plaintext."""
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials, options=options)
    return grpc.aio.insecure_channel(address, options=options)


class GrpcForwarder:
    """Implements service.Forwarder over the peers' gRPC ports."""

    def __init__(self, peers: Mapping[str, Peer], secret: str, timeout_s: float,
                 max_request_bytes: int = 1 << 30, credentials: grpc.ChannelCredentials | None = None):
        self._peers = peers
        self._credentials = credentials
        self._max_request_bytes = max_request_bytes  # what the peers' gRPC servers accept
        self._metadata = ((SECRET_METADATA, secret),)
        self._timeout_s = timeout_s
        #: node id -> (address, channel, stub)
        self._stubs: dict[str, tuple[str, grpc.aio.Channel, admin_pb2_grpc.InternalStub]] = {}
        self._retired: dict[asyncio.Task, grpc.aio.Channel] = {}   # moved peers' channels, closing

    def _stub(self, node_id: str) -> admin_pb2_grpc.InternalStub:
        peer = self._peers.get(node_id)   # looked up each time: `peers` may be a live view (a cluster map)
        if peer is None:
            raise UnavailableError(f"leader {node_id} is not a known member")
        address = peer.address("grpc")
        known = self._stubs.get(node_id)
        if known is None or known[0] != address:
            if known is not None:   # the peer moved: its old channel closes once its calls end
                task = asyncio.ensure_future(known[1].close(grace=self._timeout_s))
                self._retired[task] = known[1]
                task.add_done_callback(lambda done: self._retired.pop(done, None))
            channel = peer_channel(address, self._credentials, grpc_codec.forwarder_options(self._max_request_bytes))
            known = self._stubs[node_id] = (address, channel, admin_pb2_grpc.InternalStub(channel))
        return known[2]

    def _too_large(self, size: int) -> CommandError:
        return CommandError(f"request of {size} bytes exceeds the largest request a node accepts "
                            f"({self._max_request_bytes} bytes)", Reason.VALUE_TOO_LARGE)

    async def forward(self, node_id, command, consistency, client_id, sequence):
        request = grpc_codec.request_to_proto(command, consistency, client_id, sequence)
        size = request.ByteSize()
        if size > self._max_request_bytes:
            raise self._too_large(size)
        try:
            reply = await self._stub(node_id).Forward(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None
        outcome = grpc_codec.reply_to_outcome(reply)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def forward_batch(self, node_id, requests):
        """One ForwardBatch per run of requests that fits the leader's message limit, in order
        (a request too large alone gets its error in its slot and is not sent)."""
        outcomes: list = []
        batch, batch_bytes, slots = cache_pb2.RequestBatch(), 0, []
        for command, consistency, client_id, sequence in requests:
            request = grpc_codec.request_to_proto(command, consistency, client_id, sequence)
            size = request.ByteSize() + 8   # with its tag and length in the batch
            if size > self._max_request_bytes:
                slots.append(self._too_large(size))
                continue
            if batch_bytes + size > self._max_request_bytes:
                outcomes += await self._send_batch(node_id, batch, slots)
                batch, batch_bytes, slots = cache_pb2.RequestBatch(), 0, []
            batch.requests.append(request)
            batch_bytes += size
            slots.append(None)
        return outcomes + await self._send_batch(node_id, batch, slots)

    async def _send_batch(self, node_id, batch, slots: list) -> list:
        """Outcomes for `slots` (None: the next request of `batch`; an error: that slot's outcome)."""
        if not batch.requests:
            return list(slots)
        try:
            replies = await self._stub(node_id).ForwardBatch(batch, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None
        answered = iter(_outcomes(replies, len(batch.requests)))
        return [next(answered) if slot is None else slot for slot in slots]

    async def report_access(self, node_id: str, reporter: str, report: list) -> None:
        """Send the leader `node_id` the keys this node read: [(db, key, count, age_ms)]."""
        request = admin_pb2.AccessReport(node_id=reporter, keys=[
            admin_pb2.AccessedKey(db=db, key=key, count=min(count, _U32_MAX), age_ms=min(age_ms, _U32_MAX))
            for db, key, count, age_ms in report])
        try:
            await self._stub(node_id).ReportAccess(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as e:
            raise _error(e) from None

    async def close(self) -> None:
        for channel in [channel for _, channel, _ in self._stubs.values()] + list(self._retired.values()):
            await channel.close()


class RaftForwarder:
    """Forwards over the Raft connection when it can (node/raft/forwards.py: one message each
    way instead of a gRPC call), else as `grpc_forwarder` (a GrpcForwarder) does: to a leader
    that does not answer rc_forward, with Raft off the loop, for a batch too large or beyond the
    follower's bound, and again over gRPC when the leader asks (ResendOverGrpc: a reply too
    large for a Raft message, the dedup table then answering the writes it applied). Only
    writes that carry a dedup identity, each its own client's, take the Raft path (a second
    run must answer them, not apply them again); reads (their replies may be large) and
    reports of accessed keys go over gRPC."""

    def __init__(self, grpc_forwarder: GrpcForwarder, replicator, timeout_s: float):
        self._grpc = grpc_forwarder
        self._replicator = replicator
        self._timeout_s = timeout_s
        self._resending: set[asyncio.Task] = set()   # batches the leader asked for again over gRPC

    def _raft_path(self, node_id, requests) -> bool:
        if node_id != self._replicator.leader_id:
            return False
        clients = set()
        for _, consistency, client_id, sequence in requests:
            if consistency is not None or not client_id or not sequence or client_id in clients:
                return False
            clients.add(client_id)
        return True

    async def forward(self, node_id, command, consistency, client_id, sequence):
        request = (command, consistency, client_id, sequence)
        if not self._raft_path(node_id, [request]):
            return await self._grpc.forward(node_id, *request)
        outcome = (await self._over_raft(node_id, [request]))[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def forward_batch(self, node_id, requests):
        if not self._raft_path(node_id, requests):
            return await self._grpc.forward_batch(node_id, requests)
        return await self._over_raft(node_id, requests)

    async def _over_raft(self, node_id, requests) -> list:
        """forward_batch's outcomes for `requests`, which may take the Raft path."""
        fut = asyncio.get_running_loop().create_future()

        def answered(outcome) -> None:
            if not fut.done():
                fut.set_exception(outcome) if isinstance(outcome, BaseException) else fut.set_result(outcome)

        if not self.start_batch(node_id, requests, answered, raft_path=True):
            return await self._grpc.forward_batch(node_id, requests)
        return await fut

    def start_batch(self, node_id, requests, done: Callable[[object], None], raft_path: bool = False) -> bool:
        """forward_batch begun now when `requests` take the Raft path, with no task: `done` gets
        their outcomes (a list) or the batch's error once, on the loop: from the leader's answer
        as Raft hands it over, so it must not raise and should do little (settle futures, send
        the next batch); when the leader asks for them over gRPC (ResendOverGrpc), from that
        call's task. False: nothing was sent (forward_batch sends them). `raft_path`: the caller
        checked _raft_path."""
        if not (raft_path or self._raft_path(node_id, requests)):
            return False
        batch = cache_pb2.RequestBatch()
        for request in requests:
            grpc_codec.request_to_proto(*request, out=batch.requests.add())
        count = len(requests)

        def answered(data: bytes | None, error) -> None:   # from Raft's own code: never raises
            if isinstance(error, ResendOverGrpc):
                resent = asyncio.ensure_future(self._grpc.forward_batch(node_id, requests))
                self._resending.add(resent)
                resent.add_done_callback(self._resending.discard)
                resent.add_done_callback(lambda task: _call(done, UnavailableError(
                    "the forwarded writes were cancelled") if task.cancelled() else task.exception() or task.result()))
                return
            _call(done, error if error is not None else _replies(data, count))

        return self._replicator.forward(batch.SerializeToString(), self._timeout_s, answered)

    async def report_access(self, node_id: str, reporter: str, report: list) -> None:
        await self._grpc.report_access(node_id, reporter, report)

    async def close(self) -> None:
        for task in list(self._resending):
            task.cancel()
        await self._grpc.close()


class WriteCoalescer:
    """Forwarded writes go to the leader in ForwardBatch RPCs, not a unary
    Forward each: one RPC and, on the leader, one group commit for many
    writes (a follower serving -P 1 Redis clients made the leader answer one
    RPC per SET). At most `window` batches per leader are in flight; writes
    arriving meanwhile wait for the next batch, so batches grow with the load.
    Order is kept: the leader runs a batch in order, and a node's batches
    leave in the order they were filled. A batch that takes the Raft
    connection (RaftForwarder.start_batch) is sent with no task, and the next
    one leaves from the leader's answer to it; others run in a task each.

    Each write keeps its own outcome: a per-slot error, or the batch's
    transport error, fails only the futures it concerns, and the caller's
    retry logic (Service._write, with the write's dedup identity) takes over.
    """

    def __init__(self, max_batch: int, window: int = 2):
        self._max_batch = max_batch
        self._window = window
        self._queued: dict[str, list] = {}
        self._in_flight: dict[str, int] = {}

    def forward(self, forwarder, node_id: str, command, client_id: str, sequence: int) -> asyncio.Future:
        """Queue one write for `node_id`; the future gives (result, index) or raises."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        queued = self._queued.setdefault(node_id, [])
        queued.append(((command, None, client_id, sequence), fut))
        if len(queued) == 1:
            loop.call_soon(self._send, forwarder, node_id)  # after this loop turn's writes joined
        return fut

    def _send(self, forwarder, node_id: str) -> None:
        queued = self._queued.get(node_id)
        if not queued or self._in_flight.get(node_id, 0) >= self._window:
            return  # the batch in flight sends the rest when it is answered
        batch, rest = queued[:self._max_batch], queued[self._max_batch:]
        if rest:
            self._queued[node_id] = rest
        else:
            del self._queued[node_id]
        self._in_flight[node_id] = self._in_flight.get(node_id, 0) + 1
        if not self._start(forwarder, node_id, batch):
            asyncio.ensure_future(self._run(forwarder, node_id, batch))
        if rest:
            self._send(forwarder, node_id)

    def _start(self, forwarder, node_id: str, batch: list) -> bool:
        """The batch sent now with no task when the forwarder can (RaftForwarder.start_batch: the
        Raft path), its answer settled, and the next batch sent, as soon as the leader's answer
        arrives; False: `_run` sends it."""
        start = getattr(forwarder, "start_batch", None)
        if start is None:
            return False
        try:
            return start(node_id, [request for request, _ in batch],
                         functools.partial(self._answered, forwarder, node_id, batch))
        except Exception as e:  # noqa: BLE001 - the batch's outcome (a bug): its callers' retry logic takes over
            self._answered(forwarder, node_id, batch, e)
            return True

    def _answered(self, forwarder, node_id: str, batch: list, outcome) -> None:
        """start_batch's `done`: the slot is free (the next batch goes now), then the outcome."""
        self._in_flight[node_id] -= 1
        try:
            self._send(forwarder, node_id)
        except Exception:  # noqa: BLE001 - a bug; this batch's writes are answered all the same
            log.exception("sending the next batch of forwarded writes failed")
        _settle(batch, outcome if type(outcome) is list else [outcome] * len(batch))

    async def _run(self, forwarder, node_id: str, batch: list) -> None:
        try:
            if len(batch) == 1:
                outcomes = [await forwarder.forward(node_id, *batch[0][0])]
            else:
                outcomes = await forwarder.forward_batch(node_id, [request for request, _ in batch])
        except Exception as e:  # the whole batch's outcome (RaftcacheError, or a bug) goes to every caller
            outcomes = [e] * len(batch)
        finally:
            self._in_flight[node_id] -= 1
            self._send(forwarder, node_id)
        _settle(batch, outcomes)


def _call(done: Callable[[object], None], outcome) -> None:
    """`done(outcome)`, whatever it raises logged (it runs inside Raft's handling of a message)."""
    try:
        done(outcome)
    except Exception:  # noqa: BLE001 - one batch's answer must not break the Raft connection
        log.exception("answering a batch of forwarded writes failed")


def _settle(batch: list, outcomes: list) -> None:
    """A forwarded batch's outcomes to its callers' futures, in order (one each)."""
    if len(outcomes) != len(batch):
        outcomes = [UnavailableError(f"the leader answered {len(outcomes)} of {len(batch)} writes")] * len(batch)
    for (_, fut), outcome in zip(batch, outcomes):
        if fut.done():  # the caller gave up (cancelled)
            continue
        if isinstance(outcome, BaseException):
            # Without its traceback an expected failure (no leader, a deadline) does not tie this
            # frame, with the batch's values, into a cycle only a full collection frees.
            fut.set_exception(outcome.with_traceback(None) if isinstance(outcome, RaftcacheError) else outcome)
        else:
            fut.set_result(outcome)


def _outcomes(replies: cache_pb2.ReplyBatch, count: int) -> list:
    """The outcomes in the leader's ReplyBatch for `count` forwarded requests (UnavailableError
    when it answers another number)."""
    if len(replies.replies) != count:
        raise UnavailableError(f"the leader answered {len(replies.replies)} of {count} writes")
    return [grpc_codec.reply_to_outcome(r) for r in replies.replies]


def _replies(data: bytes, count: int) -> list | Exception:
    """_outcomes of the leader's serialized ReplyBatch, or the error that stands for them all."""
    try:
        return _outcomes(cache_pb2.ReplyBatch.FromString(data), count)
    except DecodeError:
        return UnavailableError("the leader's answer to the forwarded writes does not decode")
    except UnavailableError as e:
        return e
    except Exception as e:  # noqa: BLE001 - a reply this binary cannot read (a newer leader's value kind)
        return UnavailableError(f"the leader's answer to the forwarded writes does not read ({type(e).__name__})")


def _error(e: grpc.aio.AioRpcError):
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineError("the leader did not answer in time; the outcome is unknown")
    return grpc_codec.error_from_status(e.code(), e.details(), e.trailing_metadata())


class ForwardLanes:
    """Dedup identities (client id, sequence) for writes this node forwards
    without one (Redis and memcached clients send none). A lane serves one
    write at a time, with a new sequence each time, so the state machine's
    one-result-per-client table needs as many entries as there are forwarded
    writes in flight, not one per write."""

    def __init__(self, node_id: str, rng: random.Random):
        self._prefix = f"fwd/{node_id}/{rng.getrandbits(48):012x}/"
        self._free: list[str] = []
        self._made = 0
        self._sequences: dict[str, int] = {}

    def take(self) -> tuple[str, int]:
        if self._free:
            client_id = self._free.pop()
        else:
            self._made += 1
            client_id = f"{self._prefix}{self._made}"
        sequence = self._sequences.get(client_id, 0) + 1
        self._sequences[client_id] = sequence
        return client_id, sequence

    def give_back(self, lane: tuple[str, int]) -> None:
        self._free.append(lane[0])
