"""The keys a command names, read from its protobuf: shared by the node (size checks,
eviction, keyspace notifications, CLIENT TRACKING) and the SDK (what its near cache
forgets on a write).

A command's keys are its op's `key`, `new_key`, `store` (when set) and `keys` fields and, for an op
naming no key of its own (MSET, MSETNX), the keys of its key/value `pairs` --
HSET's pairs are its fields (which ops have which is read from the schema
once); a transaction's are those of its commands.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

from raftcache.proto import commands_pb2 as pb


def _key_fields(op_descriptor) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    fields = op_descriptor.fields_by_name

    def is_bytes(name: str, repeated: bool) -> bool:
        f = fields.get(name)
        return f is not None and f.type == FieldDescriptor.TYPE_BYTES and f.is_repeated == repeated
    single = tuple(n for n in ("key", "new_key", "store") if is_bytes(n, False))
    return (
        single,
        ("keys",) if is_bytes("keys", True) else (),
        "pairs" in fields and not single,   # HSET key pairs=(field, value)…: the pairs are not keys
    )


#: op name -> (single key fields, repeated key fields, has KeyValue pairs)
KEY_FIELDS = {f.name: _key_fields(f.message_type) for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields}


def op_keys(name: str, op) -> list[bytes]:
    """The keys the op `name` (the message `op`) names, in order."""
    if name == "transaction":
        return [key for sub in op.commands for key in command_keys(sub)]
    single, repeated, pairs = KEY_FIELDS[name]
    keys = [getattr(op, f) for f in single if f != "store" or getattr(op, f)]  # SORT's STORE: when given
    for f in repeated:
        keys += getattr(op, f)[:]   # a slice: much cheaper than iterating a protobuf repeated field
    if pairs:
        keys.extend(p.key for p in op.pairs)
    return keys


#: op message type -> an op name with that type (ops that share a type share their key fields)
_OP_OF_TYPE = {f.message_type.full_name: f.name for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields}


def keys_of(op) -> list[bytes]:
    """The keys an op message names, whichever op it is."""
    return op_keys(_OP_OF_TYPE[op.DESCRIPTOR.full_name], op)


def command_keys(command: pb.Command) -> list[bytes]:
    """Every key a command names (none for an empty one)."""
    name = command.WhichOneof("op") or "noop"
    return op_keys(name, getattr(command, name))
