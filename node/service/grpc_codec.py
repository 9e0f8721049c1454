"""Conversions between the gRPC wire messages and the service's types, and
the one table that maps raftcache error reasons to gRPC status codes.

Shared by the gRPC front end (server side) and node/service/forwarding.py (the
node-to-node client). No business logic.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from raftcache.node import commands
from raftcache.node.errors import (
    CommandError,
    DeadlineError,
    NotLeaderError,
    RaftcacheError,
    Reason,
    UnavailableError,
)
from raftcache.node.consistency import ReadConsistency
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb

ERROR_DOMAIN = "raftcache.io"

#: The largest gRPC reply a node sends, and a client of a node accepts (gRPC's default of
#: 4 MiB would refuse values well under proto-max-bulk-len). Replies are built from the
#: node's own data; requests are bounded by `request_size_limit` instead.
MAX_MESSAGE_BYTES = 1 << 30
MESSAGE_SIZE_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
#: Room in a request for what is not the value: key, options, protobuf framing.
MESSAGE_OVERHEAD_BYTES = 1 << 20


def request_size_limit(*max_value_bytes: int) -> int:
    """The largest request a node's gRPC server accepts: its largest value limit plus framing.
    gRPC refuses a longer message with RESOURCE_EXHAUSTED from its length prefix, before
    buffering it (a 1 GiB limit let one call make the node hold 1 GiB)."""
    return max(max_value_bytes) + MESSAGE_OVERHEAD_BYTES


def server_options(max_request_bytes: int) -> tuple:
    """Message size options of a node's gRPC server."""
    return (
        ("grpc.max_receive_message_length", max_request_bytes),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    )


def forwarder_options(max_request_bytes: int) -> tuple:
    """Message size options of a node's channels to its peers: it sends what their servers accept."""
    return (
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", max_request_bytes),
    )

#: raftcache reason -> gRPC status code (the only such table on the server).
STATUS_CODES: dict[Reason, grpc.StatusCode] = {
    Reason.WRONGTYPE: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.NOT_INTEGER: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.NOT_FLOAT: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.OVERFLOW: grpc.StatusCode.OUT_OF_RANGE,
    Reason.NO_SUCH_KEY: grpc.StatusCode.NOT_FOUND,
    Reason.SYNTAX: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.INVALID_EXPIRE: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.STALE_SEQUENCE: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.KEY_TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.VALUE_TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.OUT_OF_MEMORY: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.NOT_LEADER: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Reason.TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    Reason.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Reason.NO_PERMISSION: grpc.StatusCode.PERMISSION_DENIED,
    Reason.INTERNAL: grpc.StatusCode.INTERNAL,
    Reason.INVALID_OBJECT: grpc.StatusCode.DATA_LOSS,
    Reason.NO_GROUP: grpc.StatusCode.NOT_FOUND,
    Reason.BUSY_GROUP: grpc.StatusCode.ALREADY_EXISTS,
    Reason.BUSY_KEY: grpc.StatusCode.ALREADY_EXISTS,
    Reason.SCRIPT_ERROR: grpc.StatusCode.ABORTED,
    Reason.WRONG_SHARD: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.CROSS_SLOT: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.ASK: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.TRY_AGAIN: grpc.StatusCode.UNAVAILABLE,
}

_LEVEL_NAMES = {
    cache_pb2.ReadConsistency.DEFAULT: "",
    cache_pb2.ReadConsistency.LINEARIZABLE: "linearizable",
    cache_pb2.ReadConsistency.LEASE: "lease",
    cache_pb2.ReadConsistency.BOUNDED: "bounded",
    cache_pb2.ReadConsistency.ANY: "any",
    cache_pb2.ReadConsistency.MIN_INDEX: "min_index",
}
_LEVEL_NUMBERS = {name: number for number, name in _LEVEL_NAMES.items()}


def consistency_from_proto(msg: cache_pb2.ReadConsistency) -> ReadConsistency | None:
    name = _LEVEL_NAMES.get(msg.level)
    if name is None:
        raise CommandError(f"unknown read consistency level {msg.level}", Reason.INVALID_ARGUMENT)
    if not name:
        return None
    return ReadConsistency(name, bound_ms=msg.bound_ms, min_index=msg.min_index)


def consistency_to_proto(consistency: ReadConsistency | None, out: cache_pb2.ReadConsistency) -> None:
    if consistency is not None and consistency.level:
        out.level = _LEVEL_NUMBERS[consistency.level]
        out.bound_ms = consistency.bound_ms
        out.min_index = consistency.min_index


def request_to_proto(command, consistency, client_id: str, sequence: int, out: cache_pb2.Request | None = None):
    req = cache_pb2.Request() if out is None else out
    req.command.CopyFrom(command)
    consistency_to_proto(consistency, req.consistency)
    req.client_id = client_id
    req.sequence = sequence
    return req


def request_from_proto(req: cache_pb2.Request, client: bool = True) -> tuple:
    """(command, consistency, client_id, sequence) of a request from the wire.

    Raises CommandError (INVALID_ARGUMENT) for a command carrying fields this
    binary does not know: it could not be applied as its sender meant, so it is
    refused before it is proposed; and, from a `client` (not another node
    forwarding a write), for one asking to evict by memcached's rule: a gRPC
    write evicts by the cluster's maxmemory-policy (EVICT_NEVER, stricter, is
    allowed), or a client could evict others' keys under `noeviction`.
    """
    command = req.command
    if commands.has_unknown_fields(command):
        raise CommandError("the command carries fields this server does not know (a newer client or node?)",
                           Reason.INVALID_ARGUMENT)
    if client and (command.eviction == pb.EVICT_LRU or (
            command.HasField("transaction") and any(sub.eviction == pb.EVICT_LRU for sub in command.transaction.commands))):
        raise CommandError("eviction EVICT_LRU is the memcached port's: a gRPC write evicts by the cluster's "
                           "maxmemory-policy (EVICT_BY_POLICY) or not at all (EVICT_NEVER)", Reason.INVALID_ARGUMENT)
    return command, consistency_from_proto(req.consistency), req.client_id, req.sequence


def outcome_to_reply(outcome, out: cache_pb2.Reply | None = None) -> cache_pb2.Reply:
    """(result, index) or a RaftcacheError -> Reply (errors as Value.error)."""
    reply = cache_pb2.Reply() if out is None else out
    if isinstance(outcome, RaftcacheError):
        reply.value.error.reason = outcome.reason.value
        reply.value.error.message = outcome.message
        return reply
    result, index = outcome
    commands.to_value(result, reply.value)
    reply.index = index
    return reply


def reply_to_outcome(reply: cache_pb2.Reply):
    """Inverse of outcome_to_reply; transport-level reasons come back as their exceptions."""
    result = commands.from_value(reply.value)
    if isinstance(result, CommandError) and result.reason in _RAISED:
        return _RAISED[result.reason](result.message)
    return result, reply.index


_RAISED = {
    Reason.UNAVAILABLE: UnavailableError,
    Reason.NOT_LEADER: NotLeaderError,
    Reason.TIMEOUT: DeadlineError,
}


def error_status(error: RaftcacheError) -> grpc.Status:
    """A gRPC status with a google.rpc.ErrorInfo whose reason is raftcache's."""
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=ERROR_DOMAIN)
    detail = any_pb2.Any()
    detail.Pack(info)
    code = STATUS_CODES.get(error.reason, grpc.StatusCode.INTERNAL)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=error.message, details=[detail]))


def error_from_status(code: grpc.StatusCode, details: str, trailing_metadata) -> RaftcacheError:
    """Rebuild the raftcache error a status carries (by ErrorInfo reason, never by text)."""
    reason = None
    for key, value in trailing_metadata or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                    try:
                        reason = Reason(info.reason)
                    except ValueError:
                        reason = Reason.INTERNAL
    if reason is None:
        reason = {
            grpc.StatusCode.UNAVAILABLE: Reason.UNAVAILABLE,
            # the other node's server cancelled the call (it is shutting down): not applied there
            # unless it had proposed already, which the client's id/sequence dedup covers
            grpc.StatusCode.CANCELLED: Reason.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED: Reason.TIMEOUT,
            grpc.StatusCode.UNAUTHENTICATED: Reason.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED: Reason.NO_PERMISSION,
        }.get(code, Reason.INTERNAL)
    cls = _RAISED.get(reason)
    return cls(details or "") if cls else CommandError(details or "", reason)
