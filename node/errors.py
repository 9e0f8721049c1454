"""The domain error hierarchy and its stable reasons.

Every error raftcache reports carries a `Reason`: a stable, machine-readable
string that clients map on (never on message text). Each front end owns one
table mapping reasons to its protocol (gRPC status + ErrorInfo, RESP error
prefix, memcached CLIENT_ERROR / SERVER_ERROR); this module owns none of them.

Command errors are *values*: the state machine returns a `CommandError`
instead of raising, because an exception inside a Raft apply would wedge the
cluster (docs/design.md, PySyncObj note 4).
"""

from __future__ import annotations

import enum


class Reason(str, enum.Enum):
    """Stable error reasons (also the gRPC ErrorInfo reason)."""

    WRONGTYPE = "WRONGTYPE"            # operation against a key holding the wrong kind of value
    NOT_INTEGER = "NOT_INTEGER"        # value is not an integer or out of range
    NOT_FLOAT = "NOT_FLOAT"            # value is not a valid float
    OVERFLOW = "OVERFLOW"              # increment or decrement would overflow
    NO_SUCH_KEY = "NO_SUCH_KEY"        # RENAME of a missing key
    SYNTAX = "SYNTAX"                  # syntax error / bad option combination
    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # an argument out of its range
    INVALID_EXPIRE = "INVALID_EXPIRE"  # invalid expire time
    STALE_SEQUENCE = "STALE_SEQUENCE"  # a retry older than the client's last applied request: outcome unknown
    KEY_TOO_LARGE = "KEY_TOO_LARGE"
    VALUE_TOO_LARGE = "VALUE_TOO_LARGE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"    # maxmemory reached; writes refused, reads served
    NOT_LEADER = "NOT_LEADER"          # internal: this node cannot take the write
    UNAVAILABLE = "UNAVAILABLE"        # no leader / no quorum right now: retry
    TIMEOUT = "TIMEOUT"                # the deadline passed; the outcome may be unknown
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NO_PERMISSION = "NO_PERMISSION"    # the ACL user may not run this command on these keys (Redis -NOPERM)
    INTERNAL = "INTERNAL"
    INVALID_OBJECT = "INVALID_OBJECT"  # a stored value is corrupted (a HyperLogLog's registers)
    NO_GROUP = "NO_GROUP"              # no such stream consumer group
    BUSY_GROUP = "BUSY_GROUP"          # the stream consumer group already exists
    BUSY_KEY = "BUSY_KEY"              # RESTORE onto an existing key without REPLACE
    SCRIPT_ERROR = "SCRIPT_ERROR"      # a script's error reply: the message is the whole line, its first word included
    WRONG_SHARD = "WRONG_SHARD"        # cluster mode: another shard serves the key's slot ("SLOT HOST:PORT", -MOVED)
    CROSS_SLOT = "CROSS_SLOT"          # cluster mode: the keys of one command are in several slots (-CROSSSLOT)
    ASK = "ASK"                        # resharding: the key's slot is moving and the key is already at "SLOT HOST:PORT" (-ASK)
    TRY_AGAIN = "TRY_AGAIN"            # resharding: the key is being copied to its new shard right now; retry (-TRYAGAIN)


#: Reasons after which the same request may simply be sent again.
RETRYABLE = frozenset({Reason.UNAVAILABLE, Reason.NOT_LEADER})


class RaftcacheError(Exception):
    """Base of every raftcache error; carries a stable `reason`."""

    reason: Reason = Reason.INTERNAL

    def __init__(self, message: str = "", reason: Reason | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE


class CommandError(RaftcacheError):
    """A command failed for a semantic reason (wrong type, not an integer, …).

    Returned as a value by the state machine; raised by the service.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandError) and (self.reason, self.message) == (other.reason, other.message)

    def __hash__(self) -> int:
        return hash((self.reason, self.message))

    def __repr__(self) -> str:
        return f"CommandError({self.reason.value}, {self.message!r})"


class ReplyError(CommandError):
    """An error a script returned as its reply (`return redis.error_reply(…)`, `{err=…}`; log
    semantics version 24 on): the client gets an error reply, but the script ran to its end and
    keeps its writes, as Redis's does, where any other CommandError ends its command in failure
    and undoes it (`failed`)."""


def failed(result: object) -> bool:
    """Whether `result` ends its command in failure, its writes undone: a CommandError other
    than an error a script returned as its reply."""
    return isinstance(result, CommandError) and type(result) is not ReplyError


class UnavailableError(RaftcacheError):
    """No leader or no quorum right now; retrying later may succeed."""

    reason = Reason.UNAVAILABLE


class ReadIndexUnsupported(UnavailableError):
    """The leader runs a release without ReadIndex (internal: the service sends it the read)."""


class NotLeaderError(RaftcacheError):
    """This node is not the leader (internal; the service forwards instead)."""

    reason = Reason.NOT_LEADER


class DeadlineError(RaftcacheError):
    """The request's deadline passed; a write's outcome is unknown."""

    reason = Reason.TIMEOUT


class UpgradeRequiredError(RaftcacheError):
    """A committed log entry needs a newer semantics version than this binary
    supports. Raised by apply; the Raft layer stops applying at that entry (it
    keeps replicating) until the node runs a binary that supports it."""

    reason = Reason.UNAVAILABLE

    def __init__(self, index: int, version: int, supported: int):
        super().__init__(
            f"log entry {index} needs semantics version {version}; this binary supports up to {supported}: "
            "upgrade this node (it keeps replicating but applies nothing until then)")
        self.index = index
        self.version = version


class ConfigError(RaftcacheError):
    """A configuration value is invalid (raised by the configs' validate())."""

    reason = Reason.INVALID_ARGUMENT


# Canonical errors, with Redis's wording so the RESP front end can use the
# message as is.
def wrong_type() -> CommandError:
    return CommandError("Operation against a key holding the wrong kind of value", Reason.WRONGTYPE)


def not_integer() -> CommandError:
    return CommandError("value is not an integer or out of range", Reason.NOT_INTEGER)


def not_float() -> CommandError:
    return CommandError("value is not a valid float", Reason.NOT_FLOAT)


def overflow() -> CommandError:
    return CommandError("increment or decrement would overflow", Reason.OVERFLOW)


def syntax_error() -> CommandError:
    return CommandError("syntax error", Reason.SYNTAX)


def out_of_memory() -> CommandError:
    return CommandError("command not allowed when used memory > 'maxmemory'.", Reason.OUT_OF_MEMORY)
