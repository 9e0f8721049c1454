"""The keys a command names, read from its protobuf: shared by the node (keyspace
notifications, CLIENT TRACKING) and the SDK (what its near cache forgets on a write).

A command's keys are its op's `key`, `new_key` and `keys` fields and the keys
of its key/value `pairs`; a transaction's are those of its commands.
"""

from __future__ import annotations


def keys_of(op) -> list[bytes]:
    """The keys an op message (e.g. `command.set`, `command.transaction`) names, in order."""
    keys: list[bytes] = []
    for field, value in op.ListFields():
        name = field.name
        if name in ("key", "new_key"):
            keys.append(value)
        elif name == "keys":
            keys.extend(value)
        elif name == "pairs" and field.message_type is not None and field.message_type.name == "KeyValue":
            keys.extend(pair.key for pair in value)
        elif name == "commands" and op.DESCRIPTOR.name == "Transaction":
            for sub in value:
                keys.extend(command_keys(sub))
    return keys


def command_keys(command) -> list[bytes]:
    """The keys a Command names (none for an empty one)."""
    name = command.WhichOneof("op")
    return [] if name is None else keys_of(getattr(command, name))
