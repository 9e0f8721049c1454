"""The one command set: stable type numbers, read/write classes, and the codecs.

A command is a `raftcache.proto.commands_pb2.Command`: a database number and
one member of the `op` oneof, whose field number is the command's stable type
number (`CommandType`). Log entries are `LogEntry` protobufs behind a one-byte
marker. Results travel as Python values inside the node and as `Value`
protobufs on the wire; `to_value`/`from_value` convert between the two:

    bytes -> bulk, None -> nil, int -> integer, float -> number,
    Status -> status, list -> array, CommandError -> error

This module must not import grpc, lmdb or pysyncobj.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from google.protobuf.descriptor import FieldDescriptor

from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb

Command = pb.Command
LogEntry = pb.LogEntry

#: Envelope format written into new log entries.
LOG_FORMAT = 1
#: First byte of every raftcache log entry (PySyncObj adds its own type byte before it).
ENTRY_MARKER = b"\x01"
#: First byte of a LogBatch: several entries applied at one index.
BATCH_MARKER = b"\x02"

# CommandType is built from the proto's oneof so the two can never disagree;
# tests/unit/test_commands.py pins every number.
CommandType = enum.IntEnum(
    "CommandType",
    {f.name.upper(): f.number for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields},
)

#: Commands that only read: served from the local keyspace per consistency level.
READ_COMMANDS = frozenset(
    {"get", "exists", "str_len", "get_range", "mget", "ttl", "type", "scan", "db_size", "get_meta", "hget", "hmget", "hlen", "hexists", "hgetall", "hstrlen", "hrandfield", "element_scan", "lrange", "llen", "lindex", "lpos", "smembers", "sismember", "scard", "srandmember", "set_op", "zscore", "zcard", "zrange", "zrank", "zrandmember", "zset_op", "random_key", "key_version", "object_encoding", "getbit", "bitcount", "bitpos", "lcs", "bitfield_ro"}
)


class Status(str):
    """A simple status reply such as OK (RESP `+OK`), distinct from a byte string."""

    __slots__ = ()


OK = Status("OK")


class Replayed(NamedTuple):
    """An entry's result when the state machine found it already applied (a
    retry with the same client id and sequence): the first application's
    result and log index, which the caller reports instead of the retry's."""

    result: object
    index: int


def op_name(command: pb.Command) -> str:
    """The oneof member name, e.g. "set"; raises CommandError when none is set."""
    name = command.WhichOneof("op")
    if name is None:
        raise CommandError("empty command: no operation set", Reason.SYNTAX)
    return name


def is_read(command: pb.Command) -> bool:
    return command.WhichOneof("op") in READ_COMMANDS


def _key_fields(op_descriptor) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    fields = op_descriptor.fields_by_name

    def is_bytes(name: str, repeated: bool) -> bool:
        f = fields.get(name)
        return f is not None and f.type == FieldDescriptor.TYPE_BYTES and f.is_repeated == repeated
    return (
        tuple(n for n in ("key", "new_key") if is_bytes(n, False)),
        ("keys",) if is_bytes("keys", True) else (),
        "pairs" in fields,
    )


# op name -> (single key fields, repeated key fields, has KeyValue pairs), from the schema once
_KEY_FIELDS = {f.name: _key_fields(f.message_type) for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields}


def command_keys(command: pb.Command) -> list[bytes]:
    """Every key a command names (for size checks and routing)."""
    name = command.WhichOneof("op") or "noop"
    op = getattr(command, name)
    single, repeated, pairs = _KEY_FIELDS[name]
    keys = [getattr(op, f) for f in single]
    for f in repeated:
        keys.extend(getattr(op, f))
    if pairs:
        keys.extend(p.key for p in op.pairs)
    return keys


def encode_entry(entry: pb.LogEntry) -> bytes:
    return ENTRY_MARKER + entry.SerializeToString()


def stamp(command: pb.Command, now_ms: int) -> CommandError | None:
    """Make a command's relative TTL (`Expiry.ttl_ms`) an absolute deadline, in place.

    The leader does it before proposing (its clock); apply does it for the
    commands nested in a transaction with the entry's clock. A deadline that
    does not fit an int64 leaves the command unchanged and returns Redis's
    "invalid expire time" error for the caller to answer with.
    """
    name = command.WhichOneof("op")
    op = getattr(command, name)
    if hasattr(op, "expiry") and op.HasField("expiry") and op.expiry.HasField("ttl_ms"):
        deadline = now_ms + op.expiry.ttl_ms
        if not -(1 << 63) <= deadline < (1 << 63):
            return CommandError(f"invalid expire time in '{name}' command", Reason.INVALID_EXPIRE)
        op.expiry.expire_at_ms = deadline
        op.expiry.ClearField("ttl_ms")
    return None


def encode_batch(entries: list[pb.LogEntry]) -> bytes:
    return BATCH_MARKER + pb.LogBatch(entries=entries).SerializeToString()


def decode_entries(data: bytes) -> list[pb.LogEntry]:
    """Decode a log entry or a batch into its entries (ValueError when neither)."""
    if data[:1] == BATCH_MARKER:
        batch = pb.LogBatch()
        batch.ParseFromString(data[1:])
        if not batch.entries:
            raise ValueError("empty log batch")
        for entry in batch.entries:
            if entry.format != LOG_FORMAT:
                raise ValueError(f"unsupported log entry format {entry.format}")
        return list(batch.entries)
    return [decode_entry(data)]


def decode_entry(data: bytes) -> pb.LogEntry:
    """Decode a log entry. Raises ValueError on anything that is not one.

    A committed entry that does not decode means this binary cannot apply
    the log: the caller must stop the node rather than skip it, or replicas
    would diverge.
    """
    if data[:1] != ENTRY_MARKER:
        raise ValueError(f"unknown log entry marker {data[:1]!r}")
    entry = pb.LogEntry()
    entry.ParseFromString(data[1:])
    if entry.format != LOG_FORMAT:
        raise ValueError(f"unsupported log entry format {entry.format}")
    return entry


def to_value(result, out: pb.Value | None = None) -> pb.Value:
    """Convert a Python result into a Value protobuf (filling `out` if given)."""
    v = pb.Value() if out is None else out
    if result is None:
        v.nil = True
    elif isinstance(result, Status):
        v.status = result
    elif isinstance(result, (bytes, bytearray, memoryview)):
        v.bulk = bytes(result)
    elif isinstance(result, bool):
        v.integer = int(result)
    elif isinstance(result, int):
        v.integer = result
    elif isinstance(result, float):
        v.number = result
    elif isinstance(result, (list, tuple)):
        v.array.SetInParent()
        for item in result:
            to_value(item, v.array.items.add())
    elif isinstance(result, CommandError):
        v.error.reason = result.reason.value
        v.error.message = result.message
    elif isinstance(result, str):
        v.bulk = result.encode()
    else:
        raise TypeError(f"cannot encode result of type {type(result).__name__}")
    return v


def from_value(v: pb.Value):
    """Convert a Value protobuf back into the Python result it encodes."""
    kind = v.WhichOneof("kind")
    if kind == "bulk":
        return v.bulk
    if kind == "integer":
        return v.integer
    if kind == "nil" or kind is None:
        return None
    if kind == "status":
        return Status(v.status)
    if kind == "array":
        return [from_value(item) for item in v.array.items]
    if kind == "number":
        return v.number
    if kind == "error":
        try:
            reason = Reason(v.error.reason)
        except ValueError:
            reason = Reason.INTERNAL
        return CommandError(v.error.message, reason)
    raise ValueError(f"unknown value kind {kind}")


def check_limits(command: pb.Command, *, databases: int, max_key_bytes: int, max_value_bytes: int) -> CommandError | None:
    """The error a command gets for a bad database or oversized key/value, or None.

    The service checks before proposing; apply checks again, so that a
    replica never stores what its own limits refuse.
    """
    if command.db >= databases:
        return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
    name = command.WhichOneof("op")
    op = getattr(command, name) if name else None
    single, repeated, pairs = _KEY_FIELDS[name or "noop"]
    for field in single:  # the common case, without building a list of keys
        key = getattr(op, field)
        if len(key) > max_key_bytes:
            return _key_too_large(key, max_key_bytes)
    if repeated or pairs:
        for key in command_keys(command):
            if len(key) > max_key_bytes:
                return _key_too_large(key, max_key_bytes)
    values: list[bytes] = []
    if name in ("set", "append"):
        values.append(op.value)
    elif name == "set_range":
        if op.offset < 0:
            return CommandError("offset is out of range", Reason.INVALID_ARGUMENT)
        if op.offset + len(op.value) > max_value_bytes:
            return CommandError("string exceeds maximum allowed size", Reason.VALUE_TOO_LARGE)
    elif name in ("mset", "mset_nx"):
        values.extend(p.value for p in op.pairs)
    for value in values:
        if len(value) > max_value_bytes:
            return CommandError(f"value is {len(value)} bytes; the limit is {max_value_bytes}", Reason.VALUE_TOO_LARGE)
    return None


def _key_too_large(key: bytes, max_key_bytes: int) -> CommandError:
    return CommandError(f"key is {len(key)} bytes; the limit is {max_key_bytes}", Reason.KEY_TOO_LARGE)
