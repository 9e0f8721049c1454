"""The SDK's exceptions and the one table that maps server error reasons to them.

The server reports every error with a stable reason (raftcache.node.errors.
Reason): on a unary call as a gRPC status carrying a google.rpc.ErrorInfo
(domain "raftcache.io") in the `grpc-status-details-bin` trailer, inside a
pipeline as a `Value.error`. This module turns either into a typed
exception by that reason, never by the message text. A status without an
ErrorInfo (the connection failed, the client's own deadline passed) is
mapped by its gRPC code.

Must not import raftcache.node: the SDK mirrors the protocol, not the server.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "raftcache.io"
_DETAILS_KEY = "grpc-status-details-bin"


class RaftcacheError(Exception):
    """Base of every exception the SDK raises; `reason` is the server's stable reason."""

    reason: str = "INTERNAL"
    #: True when sending the same request again (same client id and sequence) is safe and may succeed.
    retryable: bool = False

    def __init__(self, message: str = "", reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason}, {self.message!r})"


class ConfigError(RaftcacheError, ValueError):
    """A client option is invalid (raised by ClientOptions.validate())."""

    reason = "INVALID_ARGUMENT"


# ---------------------------------------------------------------- command errors


class ResponseError(RaftcacheError):
    """The command failed for a semantic reason; retrying it would fail again."""


class WrongTypeError(ResponseError):
    """Operation against a key holding the wrong kind of value (Redis WRONGTYPE)."""

    reason = "WRONGTYPE"


class NotIntegerError(ResponseError, ValueError):
    reason = "NOT_INTEGER"


class NotFloatError(ResponseError, ValueError):
    reason = "NOT_FLOAT"


class IncrOverflowError(ResponseError):
    """An increment or decrement would overflow a signed 64-bit integer."""

    reason = "OVERFLOW"


class NoSuchKeyError(ResponseError, KeyError):
    """RENAME of a key that does not exist."""

    reason = "NO_SUCH_KEY"

    __str__ = Exception.__str__  # KeyError would repr() the message


class CommandSyntaxError(ResponseError):
    reason = "SYNTAX"


class InvalidArgumentError(ResponseError, ValueError):
    reason = "INVALID_ARGUMENT"


class InvalidExpireError(InvalidArgumentError):
    reason = "INVALID_EXPIRE"


class KeyTooLargeError(InvalidArgumentError):
    reason = "KEY_TOO_LARGE"


class ValueTooLargeError(InvalidArgumentError):
    reason = "VALUE_TOO_LARGE"


class StaleSequenceError(ResponseError):
    """A retry arrived after a later request of the same client lane was applied:
    the node keeps only each lane's last result, so this request's outcome is
    unknown (as with DeadlineExceededError, read the key to find out)."""

    reason = "STALE_SEQUENCE"


class OutOfMemoryError(ResponseError):
    """The cluster reached maxmemory: writes that grow the data are refused, reads are served."""

    reason = "OUT_OF_MEMORY"


class WrongShardError(ResponseError):
    """Cluster mode: another shard serves the key's slot; the message is "SLOT HOST:PORT" (that
    shard's leader's Redis address, as -MOVED). A client seeded with a sharded cluster's nodes
    routes by slot and follows it itself (docs/client.md "Sharded clusters")."""

    reason = "WRONG_SHARD"


class AskError(ResponseError):
    """Cluster mode, while a slot moves: the key is at the shard the message names ("SLOT
    HOST:PORT", as -ASK). The engine resends the command there, marked `asking`, once per call
    step; raised only when that shard is not known."""

    reason = "ASK"


class TryAgainError(ResponseError):
    """Cluster mode, while a slot moves: the key is being copied to its new shard right now
    (-TRYAGAIN). Retried with the same identity (nothing ran), as an unavailable node is."""

    reason = "TRY_AGAIN"
    retryable = True


class CrossSlotError(ResponseError):
    """Cluster mode: the keys of one command (or transaction) hash to several slots."""

    reason = "CROSS_SLOT"


class AuthenticationError(RaftcacheError):
    """No credentials, or wrong ones, where the cluster needs them (docs/security.md)."""

    reason = "UNAUTHENTICATED"


class PermissionDeniedError(AuthenticationError):
    """The ACL user may not run this command on these keys (Redis's -NOPERM)."""

    reason = "NO_PERMISSION"


class InternalError(RaftcacheError):
    reason = "INTERNAL"


# ---------------------------------------------------------------- availability


class UnavailableError(RaftcacheError):
    """No leader, no quorum, or no node reachable right now. The client retries
    these itself; you see one only when the call's deadline ran out."""

    reason = "UNAVAILABLE"
    retryable = True


class NotLeaderError(UnavailableError):
    """The node asked cannot take the write; the client refreshes the topology and retries."""

    reason = "NOT_LEADER"


class ConnectionFailedError(UnavailableError):
    """The node could not be reached, or the connection broke mid-call."""


class DeadlineExceededError(RaftcacheError, TimeoutError):
    """The deadline passed. For a write the outcome is unknown: it may have been
    applied. Within the call's deadline the client retries with the same client
    id and sequence, so the write is applied at most once; once this reaches you,
    read the key to find out."""

    reason = "TIMEOUT"
    retryable = True


#: reason -> exception class: the SDK's one mapping table.
ERRORS_BY_REASON: dict[str, type[RaftcacheError]] = {
    cls.reason: cls
    for cls in (
        WrongTypeError, NotIntegerError, NotFloatError, IncrOverflowError, NoSuchKeyError,
        CommandSyntaxError, InvalidArgumentError, InvalidExpireError, KeyTooLargeError,
        ValueTooLargeError, StaleSequenceError, OutOfMemoryError, WrongShardError, CrossSlotError,
        AskError, TryAgainError,
        AuthenticationError, PermissionDeniedError,
        InternalError,
        UnavailableError, NotLeaderError, DeadlineExceededError,
    )
}

#: gRPC code -> exception class, for statuses that carry no ErrorInfo (transport errors).
_ERRORS_BY_CODE: dict[grpc.StatusCode, type[RaftcacheError]] = {
    grpc.StatusCode.UNAVAILABLE: ConnectionFailedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ValueTooLargeError,   # message larger than the channel allows
}


def error_for_reason(reason: str, message: str = "") -> RaftcacheError:
    """The exception for a server reason; an unknown reason (a newer server) becomes ResponseError."""
    cls = ERRORS_BY_REASON.get(reason)
    if cls is None:
        return ResponseError(message, reason or "INTERNAL")
    return cls(message)


def reason_from_metadata(trailing_metadata) -> str | None:
    """The ErrorInfo reason in a status's `grpc-status-details-bin` trailer, or None."""
    for key, value in trailing_metadata or ():
        if key != _DETAILS_KEY:
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # noqa: BLE001 - a garbled trailer is as good as none
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                return info.reason
    return None


def error_from_status(code: grpc.StatusCode, details: str | None, trailing_metadata) -> RaftcacheError:
    """The typed exception a gRPC status stands for: by ErrorInfo reason, else by code."""
    reason = reason_from_metadata(trailing_metadata)
    if reason is not None:
        return error_for_reason(reason, details or "")
    cls = _ERRORS_BY_CODE.get(code, InternalError)
    return cls(f"{code.name}: {details or ''}".rstrip(": "))


def error_from_rpc(error: grpc.RpcError) -> RaftcacheError:
    """Convert a grpc(.aio) RpcError."""
    return error_from_status(error.code(), error.details(), error.trailing_metadata())
