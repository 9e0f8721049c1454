"""HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG) over STRING records.

The value is Redis's own HYLL string (node/storage/hyperloglog.py), so GET,
SET, APPEND and the rest see exactly the bytes Redis would hold. As in Redis:
PFADD writes only when a register changed (or it created the key); PFCOUNT
of one key stores the cardinality it computed in the value's cache (the
`pfcount` op is therefore a write; `pfcount_ro` counts without storing);
PFMERGE always writes its destination, which counts as one of its sources.
Writes keep the key's TTL. The sparse-to-dense threshold is the replicated
`hll-sparse-max-bytes` (ctx.settings), so every replica promotes alike.

Handlers follow node/commands/strings.py's convention. Must not touch:
clocks, randomness, lmdb, grpc, Raft.
"""

from __future__ import annotations

from collections.abc import Callable

from raftcache.node import commands
from raftcache.node.commands import OK, Status, strings
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import hyperloglog as hll
from raftcache.node.storage.keyspace import Record
from raftcache.proto import commands_pb2 as pb


def not_hll() -> CommandError:
    return CommandError("Key is not a valid HyperLogLog string value.", Reason.WRONGTYPE)


def corrupted() -> CommandError:
    return CommandError("Corrupted HLL object detected", Reason.INVALID_OBJECT)


def _sparse_max(ctx: Ctx) -> int:
    value = (ctx.settings or {}).get("hll-sparse-max-bytes")
    return hll.SPARSE_MAX_BYTES if value is None else int(value)


def _load(ctx: Ctx, key: bytes) -> Record | None | CommandError:
    """The live record at key if it holds an HLL, None when absent, else the error Redis gives.
    From log version 28 (commands.HLL_EXACT_VERSION) a sparse value longer than any that can
    hold 16384 registers is corrupted for every command, unread: such a value (a SET of up to
    proto-max-bulk-len bytes) was walked opcode by opcode, ~20 s of every replica's apply for
    64 MB."""
    record = strings._string(ctx.txn, ctx.db, ctx, key)
    if isinstance(record, Record):
        if not hll.is_hll(record.value):
            return not_hll()
        if (len(record.value) > hll.SPARSE_LIMIT_BYTES and hll.encoding(record.value) == hll.SPARSE
                and commands.rules_version(ctx) >= commands.HLL_EXACT_VERSION):
            return corrupted()
    return record


def _write(ctx: Ctx, key: bytes, record: Record | None, value: bytes) -> None:
    strings._store(ctx.txn, ctx.db, ctx, key, bytes(value), *strings._keep(record))


def pfadd(ctx: Ctx, op: pb.PfAdd):
    record = _load(ctx, op.key)
    if isinstance(record, CommandError):
        return record
    value = hll.new() if record is None else bytearray(record.value)
    try:
        value, changed = hll.add(value, op.elements, _sparse_max(ctx))
    except hll.Invalid:
        return corrupted()
    if record is None or changed:
        hll.invalidate(value)
        _write(ctx, op.key, record, value)
        return 1
    return 0


#: What each key of a union (PFCOUNT of several keys, PFMERGE) counts in a script's budget from
#: log version 28, in items read (node/storage/keyspace/reading.py, ReadTxn.run_items; ~8
#: instructions each): its 16384 registers read, merged and counted, ~0.15 ms here.
UNION_ITEMS = hll.REGISTERS >> 5


def _union(ctx: Ctx, keys) -> tuple[bytes, bool] | CommandError:
    """The register-wise maximum of the HLLs at `keys` (missing keys are empty HLLs), one
    register per byte, and whether any of them is dense."""
    registers = bytes(hll.REGISTERS)
    dense = False
    for key in keys:
        record = _load(ctx, key)
        if isinstance(record, CommandError):
            return record
        ctx.txn.run_items += UNION_ITEMS
        if record is not None:
            dense = dense or hll.encoding(record.value) == hll.DENSE
            try:
                registers = hll.merge_max(registers, record.value)
            except hll.Invalid:
                return corrupted()
    return registers, dense


def _count(ctx: Ctx, op: pb.PfCount, store: bool):
    if len(op.keys) != 1:
        union = _union(ctx, op.keys)
        return union if isinstance(union, CommandError) else hll.count_registers(union[0])
    record = _load(ctx, op.keys[0])
    if record is None or isinstance(record, CommandError):
        return record or 0
    cached = hll.cached_count(record.value)
    if cached is not None:
        return cached
    try:
        count = hll.count(record.value)
    except hll.Invalid:
        return corrupted()
    if store:
        value = bytearray(record.value)
        hll.store_count(value, count)
        _write(ctx, op.keys[0], record, value)
    return count


def pfcount(ctx: Ctx, op: pb.PfCount):
    return _count(ctx, op, store=True)


def pfcount_ro(ctx: Ctx, op: pb.PfCount):
    return _count(ctx, op, store=False)


def pfmerge(ctx: Ctx, op: pb.PfMerge):
    union = _union(ctx, [op.key, *op.keys])
    if isinstance(union, CommandError):
        return union
    registers, dense = union
    record = _load(ctx, op.key)
    value = hll.new() if record is None else bytearray(record.value)
    try:
        if dense:   # (the union holds the key's own registers: every register is raised or kept)
            value = hll.dense_with(value, registers)
        else:
            value, _ = hll.set_registers(value, ((i, r) for i, r in enumerate(registers) if r), _sparse_max(ctx))
    except hll.Invalid:
        return corrupted()
    hll.invalidate(value)
    _write(ctx, op.key, record, value)
    return OK


def _debug(ctx: Ctx, op: pb.PfDebug):
    """(record, value) of PFDEBUG's key, or the error it answers."""
    record = _load(ctx, op.key)
    if record is None:
        return CommandError("The specified key does not exist", Reason.NO_SUCH_KEY), None
    if isinstance(record, CommandError):
        return record, None
    return record, record.value


def pfdebug(ctx: Ctx, op: pb.PfDebug):
    """GETREG (the 16384 registers) and TODENSE (1 when converted): both leave the value dense."""
    record, value = _debug(ctx, op)
    if value is None:
        return record
    converted = hll.encoding(value) == hll.SPARSE
    if converted:
        try:
            value = hll.to_dense(value)
        except hll.Invalid:
            return corrupted()
        _write(ctx, op.key, record, value)
    if op.kind == pb.PFDEBUG_GETREG:
        return hll.registers(value)
    if op.kind == pb.PFDEBUG_TODENSE:
        return int(converted)
    return CommandError("PFDEBUG GETREG and TODENSE write; DECODE and ENCODING read", Reason.SYNTAX)


def pfdebug_ro(ctx: Ctx, op: pb.PfDebug):
    """ENCODING ("dense"/"sparse") and DECODE (the sparse opcodes as text)."""
    record, value = _debug(ctx, op)
    if value is None:
        return record
    if op.kind == pb.PFDEBUG_ENCODING:
        return Status("dense" if hll.encoding(value) == hll.DENSE else "sparse")
    if op.kind == pb.PFDEBUG_DECODE:
        if hll.encoding(value) != hll.SPARSE:
            return CommandError("HLL encoding is not sparse", Reason.INVALID_ARGUMENT)
        return hll.decode_sparse(value).encode()
    return CommandError("PFDEBUG GETREG and TODENSE write; DECODE and ENCODING read", Reason.SYNTAX)


HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "pfadd": pfadd,
    "pfcount": pfcount,
    "pfcount_ro": pfcount_ro,
    "pfmerge": pfmerge,
    "pfdebug": pfdebug,
    "pfdebug_ro": pfdebug_ro,
}
