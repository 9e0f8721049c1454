"""Bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD/BITFIELD_RO)
and LCS, with Redis 7's semantics, over plain STRING records.

Handlers follow node/commands/strings.py's convention (`handler(ctx, op)`, errors
returned as CommandError values, validation before any write). A string is
a bitmap whose bit 0 is the most significant bit of its first byte; writes
past the end grow it with zero bytes, never past `ctx.max_value_bytes`
(Redis's proto-max-bulk-len) nor bit offset 2**32. SETBIT and BITFIELD keep
the key's TTL and write nothing when no bit and no length changed (so a
WATCH is not broken, as in Redis); BITOP replaces the destination (TTL
dropped) or deletes it when the result is empty.

Bulk work is done in C through Python's big integers and bytes methods
(int.from_bytes, int.bit_count, regex search with pos/endpos): no Python
loop per bit or per byte. LCS uses the bit-parallel row recurrence
(Hyyrö 2004): one big-integer step per byte of the first string, rows kept
for Redis's exact backtracking order.

Must not touch: clocks, randomness, lmdb, grpc, Raft.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from raftcache.node.commands import strings
from raftcache.node.errors import CommandError, Reason, syntax_error
from raftcache.node.storage.keyspace import Record, ValueType
from raftcache.node.commands.strings import Ctx
from raftcache.proto import commands_pb2 as pb

#: Highest bit offset + 1 (Redis's default proto-max-bulk-len of 512 MiB, in bits).
OFFSET_LIMIT = 1 << 32
_CHUNK_BYTES = 1 << 20   # popcount in slices of this size (bounded temporary ints)
_NOT_ZERO = re.compile(rb"[^\x00]")
_NOT_ONES = re.compile(rb"[^\xff]")
_U64 = (1 << 64) - 1


def offset_error() -> CommandError:
    return CommandError("bit offset is not an integer or out of range", Reason.INVALID_ARGUMENT)


def _offset_ok(offset: int, ctx: Ctx) -> bool:
    return offset_ok(offset, ctx.max_value_bytes)


def offset_ok(offset: int, max_value_bytes: int) -> bool:
    """A bit offset apply takes (SETBIT, GETBIT, BITFIELD) with values up to `max_value_bytes`."""
    return offset < OFFSET_LIMIT and (offset >> 3) < max_value_bytes


def _type_ok(o: pb.BitFieldOp) -> bool:
    return 1 <= o.bits <= (64 if o.signed else 63)


def bitfield_op_ok(o: pb.BitFieldOp, max_value_bytes: int) -> bool:
    """check_bitfield_op finds nothing wrong with `o` (the eviction planner's estimate asks)."""
    return _type_ok(o) and offset_ok(o.offset, max_value_bytes)


def _bits_of(value: bytes, lo: int, hi: int) -> int:
    """Bits lo..hi (inclusive, within value) as an integer whose top bit is bit lo."""
    n = int.from_bytes(value[lo >> 3:(hi >> 3) + 1], "big") >> (7 - (hi & 7))
    return n & ((1 << (hi - lo + 1)) - 1)


def _popcount(value: bytes, start: int = 0, end: int | None = None) -> int:
    view = memoryview(value)[start:end]
    return sum(int.from_bytes(view[i:i + _CHUNK_BYTES], "little").bit_count()
               for i in range(0, len(view), _CHUNK_BYTES))


def _find_in_bits(value: bytes, lo: int, hi: int, bit: int) -> int | None:
    span = hi - lo + 1
    n = _bits_of(value, lo, hi)
    if bit == 0:
        n ^= (1 << span) - 1
    return None if n == 0 else lo + span - n.bit_length()


def _find_bit(value: bytes, lo: int, hi: int, bit: int) -> int | None:
    """The first position in bits lo..hi holding `bit`, or None."""
    if hi - lo < 128:
        return _find_in_bits(value, lo, hi, bit)
    first, last = lo >> 3, hi >> 3
    if lo & 7:  # a partial first byte
        found = _find_in_bits(value, lo, first * 8 + 7, bit)
        if found is not None:
            return found
        first += 1
    whole_end = last + 1 if hi & 7 == 7 else last   # bytes first..whole_end-1 are whole
    match = (_NOT_ZERO if bit else _NOT_ONES).search(value, first, whole_end)
    if match is not None:
        return _find_in_bits(value, match.start() * 8, match.start() * 8 + 7, bit)
    if whole_end == last:
        return _find_in_bits(value, last * 8, hi, bit)
    return None


def _range(start: int, end: int, total: int) -> tuple[int, int]:
    """Redis's index normalisation: negatives from the end, clamped to 0..total-1."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    return max(start, 0), min(max(end, 0), total - 1)


# ---------------------------------------------------------------- SETBIT / GETBIT

def setbit(ctx: Ctx, op: pb.SetBit):
    if not _offset_ok(op.offset, ctx):
        return offset_error()
    if op.value not in (0, 1):
        return CommandError("bit is not an integer or out of range", Reason.INVALID_ARGUMENT)
    record = strings._string(ctx.txn, ctx.db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    old = b"" if record is None else record.value
    byte, shift = op.offset >> 3, 7 - (op.offset & 7)
    current = old[byte] if byte < len(old) else 0
    previous = (current >> shift) & 1
    if byte < len(old) and previous == op.value:
        return previous     # nothing changes: no write (the key's version stays)
    value = bytearray(old)   # one copy of the string, edited in place (a bitmap may be 512 MB)
    if byte >= len(value):
        value.extend(bytes(byte + 1 - len(value)))
    value[byte] = (current & ~(1 << shift)) | (op.value << shift)
    strings._store(ctx.txn, ctx.db, ctx, op.key, value, *strings._keep(record))
    return previous


def getbit(ctx: Ctx, op: pb.GetBit):
    if not _offset_ok(op.offset, ctx):
        return offset_error()
    record = strings._string(ctx.txn, ctx.db, ctx, op.key)
    if not isinstance(record, Record):
        return 0 if record is None else record
    byte = op.offset >> 3
    if byte >= len(record.value):
        return 0
    return (record.value[byte] >> (7 - (op.offset & 7))) & 1


# ---------------------------------------------------------------- BITCOUNT / BITPOS

def bitcount(ctx: Ctx, op: pb.BitCount):
    record = strings._string(ctx.txn, ctx.db, ctx, op.key)
    if not isinstance(record, Record):
        return 0 if record is None else record
    value = record.value
    if not op.ranged:
        return _popcount(value)
    if op.start < 0 and op.end < 0 and op.start > op.end:
        return 0
    total = len(value) * (8 if op.by_bit else 1)
    start, end = _range(op.start, op.end, total)
    if start > end:
        return 0
    if not op.by_bit:
        return _popcount(value, start, end + 1)
    first, last = start >> 3, end >> 3
    count = _popcount(value, first, last + 1)
    head = value[first] >> (8 - (start & 7)) if start & 7 else 0        # bits before start
    tail = value[last] & ((1 << (7 - (end & 7))) - 1)                    # bits after end
    return count - head.bit_count() - tail.bit_count()


def bitpos(ctx: Ctx, op: pb.BitPos):
    if op.bit not in (0, 1):
        return CommandError("The bit argument must be 1 or 0.", Reason.INVALID_ARGUMENT)
    record = strings._string(ctx.txn, ctx.db, ctx, op.key)
    if not isinstance(record, Record):
        # A missing key is an endless run of zero bits, whatever the range.
        return (-1 if op.bit else 0) if record is None else record
    value = record.value
    end_given = op.HasField("end")
    by_bit = op.by_bit and end_given
    if op.HasField("start"):
        total = len(value) * (8 if by_bit else 1)
        start, end = _range(op.start, op.end if end_given else total - 1, total)
    else:
        start, end = 0, len(value) - 1
    if start > end:
        return -1       # an empty range holds neither a 0 nor a 1
    lo, hi = (start, end) if by_bit else (start * 8, end * 8 + 7)
    found = _find_bit(value, lo, hi, op.bit)
    if found is not None:
        return found
    # No clear bit: without an explicit end the string counts as zero-padded
    # on the right (the bit past the range); with one, there is none (-1).
    return -1 if op.bit or end_given else hi + 1


# ---------------------------------------------------------------- BITOP

def bitop(ctx: Ctx, op: pb.BitOp):
    if not op.keys:
        return CommandError("wrong number of arguments for 'bitop' command", Reason.SYNTAX)
    if op.op == pb.BITOP_NOT and len(op.keys) != 1:
        return CommandError("BITOP NOT must be called with a single source key.", Reason.INVALID_ARGUMENT)
    values = []
    for key in op.keys:
        record = strings._string(ctx.txn, ctx.db, ctx, key)
        if isinstance(record, CommandError):
            return record
        values.append(b"" if record is None else record.value)
    size = max(map(len, values))
    if size > ctx.max_value_bytes:
        return strings._too_large()
    if size == 0:
        ctx.txn.delete(ctx.db, op.key)
        return 0
    # Shorter inputs are zero-padded on the right: shift them up to the longest.
    ints = [int.from_bytes(v, "big") << (8 * (size - len(v))) for v in values]
    result = ints[0]
    if op.op == pb.BITOP_NOT:
        result = ~result & ((1 << (8 * size)) - 1)
    elif op.op == pb.BITOP_AND:
        for n in ints[1:]:
            result &= n
    elif op.op == pb.BITOP_OR:
        for n in ints[1:]:
            result |= n
    elif op.op == pb.BITOP_XOR:
        for n in ints[1:]:
            result ^= n
    else:
        return syntax_error()
    strings._store(ctx.txn, ctx.db, ctx, op.key, result.to_bytes(size, "big"), 0)
    return size


# ---------------------------------------------------------------- BITFIELD

_BAD_TYPE = "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."


def check_bitfield_op(o: pb.BitFieldOp, ctx: Ctx) -> CommandError | None:
    if not _type_ok(o):
        return CommandError(_BAD_TYPE, Reason.INVALID_ARGUMENT)
    if not _offset_ok(o.offset, ctx):
        return offset_error()
    return None


def _field(buf, o: pb.BitFieldOp) -> int:
    """The field's value; bits past the end of `buf` read as 0 (as Redis reads them)."""
    lo, hi = o.offset, o.offset + o.bits - 1
    chunk = bytes(buf[lo >> 3:(hi >> 3) + 1]).ljust((hi >> 3) - (lo >> 3) + 1, b"\x00")
    n = _bits_of(chunk, lo & 7, (lo & 7) + o.bits - 1)
    if o.signed and n >> (o.bits - 1):
        n -= 1 << o.bits
    return n


def _put_field(buf: bytearray, o: pb.BitFieldOp, n: int) -> None:
    hi = o.offset + o.bits - 1
    first, last, shift = o.offset >> 3, hi >> 3, 7 - (hi & 7)
    mask = ((1 << o.bits) - 1) << shift
    word = int.from_bytes(buf[first:last + 1], "big")
    word = (word & ~mask) | ((n << shift) & mask)
    buf[first:last + 1] = word.to_bytes(last - first + 1, "big")


def _overflowed(o: pb.BitFieldOp, value: int, incr: int) -> tuple[bool, int]:
    """(overflowed, the value to store under WRAP/SAT), as Redis's check*BitfieldOverflow."""
    bits = o.bits
    if o.signed:
        top, low = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
        total = value + incr
        if low <= total <= top:
            return False, total
        if o.overflow == pb.OVERFLOW_SAT:
            return True, top if total > top else low
        return True, ((total - low) & ((1 << bits) - 1)) + low
    top = (1 << bits) - 1
    value &= _U64                      # a negative SET value is a huge unsigned one
    total = value + incr
    if value > top or total > top:
        return True, top if o.overflow == pb.OVERFLOW_SAT else total & top
    if total < 0:
        return True, 0 if o.overflow == pb.OVERFLOW_SAT else total & top
    return False, total


def _bitfield(ctx: Ctx, op: pb.BitField, read_only: bool):
    for o in op.ops:
        error = check_bitfield_op(o, ctx)
        if error is not None:
            return error
    writes = [o for o in op.ops if o.kind != pb.BITFIELD_GET]
    if writes and read_only:
        return CommandError("BITFIELD_RO only supports the GET subcommand", Reason.INVALID_ARGUMENT)
    record = strings._string(ctx.txn, ctx.db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    old = b"" if record is None else record.value
    if not writes:
        need = max(((o.offset + o.bits - 1) >> 3) + 1 for o in op.ops) if op.ops else 0
        buf = old[:need].ljust(need, b"\x00")
        return [_field(buf, o) for o in op.ops]
    need = max(((o.offset + o.bits - 1) >> 3) + 1 for o in writes)
    if need > ctx.max_value_bytes:
        return strings._too_large()
    buf = bytearray(old)
    grew = need > len(buf)
    if grew:
        buf.extend(bytes(need - len(buf)))
    reply: list = []
    changed = grew
    for o in op.ops:
        if o.kind == pb.BITFIELD_GET:
            reply.append(_field(buf, o))
            continue
        current = _field(buf, o)
        if o.kind == pb.BITFIELD_INCRBY:
            overflowed, new = _overflowed(o, current, o.value)
            answer = new
        else:
            overflowed, new = _overflowed(o, o.value, 0)
            answer = current
        if overflowed and o.overflow == pb.OVERFLOW_FAIL:
            reply.append(None)
            continue
        reply.append(answer)
        _put_field(buf, o, new)
        changed = changed or new != current
    if changed:   # a key is created (or grown) even when every write failed, as in Redis
        strings._store(ctx.txn, ctx.db, ctx, op.key, bytes(buf), *strings._keep(record))
    return reply


def bitfield(ctx: Ctx, op: pb.BitField):
    return _bitfield(ctx, op, read_only=False)


def bitfield_ro(ctx: Ctx, op: pb.BitField):
    return _bitfield(ctx, op, read_only=True)


# ---------------------------------------------------------------- LCS

def _lcs_rows(a: bytes, b: bytes, keep: bool) -> tuple[int, list[bytes]]:
    """LCS length of a and b, and (if keep) each row i's vector V_i over b as
    little-endian bytes: LCS(a[:i], b[:j]) = j - popcount(V_i & (2**j - 1))."""
    m = len(b)
    full = (1 << m) - 1
    masks = {}
    for ch in set(a):
        table = bytearray(b"0" * 256)
        table[ch] = ord("1")
        masks[ch] = int(b.translate(table)[::-1], 2) if m else 0
    size = (m + 7) // 8
    v = full
    rows = [v.to_bytes(size, "little")] if keep else []
    for ch in a:
        u = v & masks[ch]
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(v.to_bytes(size, "little"))
    return m - v.bit_count(), rows


def _prefix_lcs(row: bytes, j: int) -> int:
    """LCS(a[:i], b[:j]) from row i."""
    ones = int.from_bytes(row[:j >> 3], "little").bit_count()
    if j & 7:
        ones += (row[j >> 3] & ((1 << (j & 7)) - 1)).bit_count()
    return j - ones


def _bit(row: bytes, j: int) -> int:
    return (row[j >> 3] >> (j & 7)) & 1


def _lcs_backtrack(a: bytes, b: bytes, rows: list[bytes], length: int, min_len: int, with_len: bool):
    """Redis's lcsCommand walk from (len(a), len(b)) back to an edge: the LCS
    string and the matching ranges, in Redis's order and with its tie-break."""
    alen = len(a)
    i, j, idx = alen, len(b), length
    result = bytearray(length)
    ranges = []
    a_start = alen       # alen: no range open
    a_end = b_start = b_end = 0
    cur = length                                         # LCS(i, j)
    up = _prefix_lcs(rows[i - 1], j) if i else 0         # LCS(i-1, j)
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == alen:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            cur = up - 1 + _bit(rows[i - 1], j - 1)      # LCS(i-1, j-1)
            idx, i, j = idx - 1, i - 1, j - 1
            up = _prefix_lcs(rows[i - 1], j) if i else 0
        else:
            left = cur - 1 + _bit(rows[i], j - 1)        # LCS(i, j-1)
            if up > left:
                i, cur = i - 1, up
                up = _prefix_lcs(rows[i - 1], j) if i else 0
            else:
                up = up - 1 + _bit(rows[i - 1], j - 1)   # LCS(i-1, j-1)
                j, cur = j - 1, left
            if a_start != alen:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if min_len == 0 or match_len >= min_len:
                entry = [[a_start, a_end], [b_start, b_end]]
                if with_len:
                    entry.append(match_len)
                ranges.append(entry)
            a_start = alen
    return bytes(result), ranges


def lcs(ctx: Ctx, op: pb.Lcs):
    if len(op.keys) != 2:
        return syntax_error()
    values = []
    for key in op.keys:
        record = ctx.txn.get(ctx.db, key, ctx.now_ms)
        if record is not None and record.type != ValueType.STRING:
            return CommandError("The specified keys must contain string values", Reason.INVALID_ARGUMENT)
        values.append(b"" if record is None else record.value)
    if op.len and op.idx:
        return CommandError("If you want both the length and indexes, please just use IDX.", Reason.INVALID_ARGUMENT)
    a, b = values
    if len(a) >= (1 << 32) - 1 or len(b) >= (1 << 32) - 1:
        return CommandError("String too long for LCS", Reason.INVALID_ARGUMENT)
    if (len(a) + 1) * (len(b) + 1) * 4 > ctx.max_value_bytes:
        return CommandError("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
                            Reason.INVALID_ARGUMENT)
    length, rows = _lcs_rows(a, b, keep=not op.len)
    if op.len:
        return length
    text, ranges = _lcs_backtrack(a, b, rows, length, max(op.min_match_len, 0), op.with_match_len)
    if op.idx:
        return [b"matches", ranges, b"len", length]
    return text


#: Command.WhichOneof("op") -> handler.
HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "setbit": setbit, "getbit": getbit, "bitcount": bitcount, "bitpos": bitpos, "bitop": bitop,
    "lcs": lcs, "bitfield": bitfield, "bitfield_ro": bitfield_ro,
}
