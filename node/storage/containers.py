"""Shared helpers of the container handler modules (hashes, lists, sets, zsets).

Owns the value encoding of container records and the load/store steps every
container command shares: type check (WRONGTYPE), keeping the key's expiry
across writes, deleting a key whose container became empty (Redis never
keeps empty containers), and Redis's glob matching for the *SCAN commands.

Encoding (deterministic, so replicas store identical bytes): a little-endian
u32 item count, one u32 length per item, then the items back to back. Hashes
store field, value, field, value…; sorted sets member, score (8-byte
little-endian double)… Order is the container's own order (insertion order
for hashes and sets, list order, (score, member) order for sorted sets).

Must not import lmdb, grpc, time or random: handlers run inside apply.
"""

from __future__ import annotations

import decimal
import math
import re
import struct
import sys
from collections.abc import Iterable, Sequence

from raftcache.node.errors import CommandError, Reason, wrong_type

_U32 = struct.Struct("<I")


def encode_items(items: Sequence[bytes]) -> bytes:
    n = len(items)
    return struct.pack(f"<I{n}I", n, *map(len, items)) + b"".join(items)


def decode_items(data: bytes) -> list[bytes]:
    if not data:
        return []
    (n,) = _U32.unpack_from(data, 0)
    lengths = struct.unpack_from(f"<{n}I", data, 4)
    pos = 4 + 4 * n
    out = []
    append = out.append
    for length in lengths:
        end = pos + length
        append(data[pos:end])
        pos = end
    return out


def _value_type():
    # Imported lazily: node/keyspace is the only module that imports lmdb,
    # and the codecs above stay usable (and testable) without it.
    from raftcache.node.storage.keyspace import ValueType

    return ValueType


def load(txn, db: int, key: bytes, ctx, type_name: str):
    """The live record at key if it holds `type_name` ("HASH", …), None when absent.

    Returns a CommandError (WRONGTYPE) when the key holds another type.
    """
    record = txn.get(db, key, ctx.now_ms)
    if record is None:
        return None
    if record.type != getattr(_value_type(), type_name):
        return wrong_type()
    return record


def first_non_empty(ctx, keys, get) -> tuple:
    """LMPOP/ZMPOP's key order: (key, record, items) of the first key holding a
    collection, where get(txn, db, key, ctx) -> (record, items) loads one.

    (None, error, None) when a key before it holds another type (WRONGTYPE);
    (None, None, None) when every key is empty. Keys after it are not read.
    """
    for key in keys:
        record, items = get(ctx.txn, ctx.db, key, ctx)
        if items is None:
            return None, record, None
        if record is not None:
            return key, record, items
    return None, None, None


def store(txn, db: int, key: bytes, type_name: str, value: bytes | None, ctx, old=None, flags: int = 0):
    """Write a container (keeping old's expiry), or delete the key when value is None (empty).

    Returns the record written (None when deleted). `flags`: keyspace.ITEMIZED for
    the record of a container whose elements are item records.
    """
    if value is None:
        if old is not None:
            txn.delete(db, key)
        return None
    from raftcache.node.storage.keyspace import Record

    record = Record(
        type=getattr(_value_type(), type_name),
        value=value,
        expires_at_ms=old.expires_at_ms if old is not None else 0,
        index=ctx.index,
        flags=flags,
    )
    txn.put(db, key, record)
    return record


def too_large(ctx, items: Iterable[bytes]) -> CommandError | None:
    """An element longer than the value limit is refused like an oversized value."""
    limit = ctx.max_value_bytes
    for item in items:
        if len(item) > limit:
            return CommandError(f"element is {len(item)} bytes; the limit is {limit}", Reason.VALUE_TOO_LARGE)
    return None


#: The longest hash field, set member or sorted-set member: an itemized container
#: (node/storage/itemview.py) stores each element in an LMDB key, at most 511 bytes, after
#: its longest prefix (container id 8 + sorted-set score order tag 1 + score 8).
#: A longer element made LMDB refuse the write inside apply, on every replica.
MAX_ELEMENT_BYTES = 511 - 8 - 1 - 8


def elements_too_large(elements: Iterable[bytes]) -> CommandError | None:
    """The error for an element name past MAX_ELEMENT_BYTES (refused like an oversized key), or None."""
    for element in elements:
        if len(element) > MAX_ELEMENT_BYTES:
            return CommandError(f"element is {len(element)} bytes; the limit is {MAX_ELEMENT_BYTES}",
                                Reason.KEY_TOO_LARGE)
    return None


def mixed_seed(seed: int, n: int) -> int:
    """A seed derived from `seed` for its n-th user (n >= 1), never 0: the same on every replica."""
    return (seed * 0x9E3779B97F4A7C15 + n) % ((1 << 63) - 1) + 1


def seed_of(ctx) -> int:
    """The seed of a write's random choice: the entry's seed when the context carries
    one, else derived from the log index and the entry's clock (identical on every
    replica, different for every entry)."""
    seed = getattr(ctx, "seed", 0)
    if seed:
        return seed
    return ((ctx.index * 0x9E3779B97F4A7C15) ^ ctx.now_ms) & ((1 << 63) - 1)


#: The most elements a negative *RANDMEMBER count may ask for (picked with repeats).
#: Redis builds a reply of any size; here it is built on a Raft member's event
#: loop: a million picks WITHVALUES held a node 1.1–1.5 s, past the shortest election
#: timeout (0.6 s); a hundred thousand take ~0.15 s.
MAX_RANDOM_REPEATS = 100_000
#: ... in entries applied before log semantics version 20 (commands.RANDOM_PICKS_VERSION).
OLD_MAX_RANDOM_REPEATS = 1_000_000


def repeats_refused(count: int | None, one_pass: bool = True) -> CommandError | None:
    """The error for a negative random count past the bound of its rules (commands.one_pass_picks), or None."""
    limit = MAX_RANDOM_REPEATS if one_pass else OLD_MAX_RANDOM_REPEATS
    if count is not None and count < -limit:
        return CommandError(f"value is out of range, at most {limit} elements can be picked "
                            "with repeats", Reason.INVALID_ARGUMENT)
    return None


def random_pick(rng, items: list, count: int | None):
    """Redis's *RANDMEMBER count rules: >0 distinct (at most all), <0 |count| with repeats."""
    if count is None:
        return rng.choice(items) if items else None
    if not items or count == 0:
        return []
    if count > 0:
        if count >= len(items):
            return list(items)
        return rng.sample(items, count)
    return [rng.choice(items) for _ in range(-count)]


def databases(ctx) -> int:
    """The number of databases when the context knows it (the front end checks too)."""
    return getattr(ctx, "databases", 0) or (1 << 31)


def norm_range(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """Redis's LRANGE/ZRANGE index rules; returns inclusive (start, stop) or None when empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    if start < 0:
        start = 0
    if start > stop or start >= length:
        return None
    if stop >= length:
        stop = length - 1
    return start, stop


def parse_int(value: bytes) -> int | None:
    """A Redis integer string (no spaces, no '+', no leading zeros), or None."""
    if not value or len(value) > 20:
        return None
    if not (value.isdigit() or (value[:1] == b"-" and value[1:].isdigit())):
        return None
    if (value[:1] == b"0" and len(value) > 1) or value[:2] == b"-0":
        return None
    n = int(value)
    if not -(1 << 63) <= n < (1 << 63):
        return None
    return n


# ---------------------------------------------------------------- INCRBYFLOAT / HINCRBYFLOAT

# strtold()'s decimal forms without hex floats, spaces or NaN (Python's float() also takes
# "1_0", " 1 "). Redis's strtold() also reads hex floats ("0x10"); tests/unit pins their refusal.
_FLOAT_TEXT = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INFINITY_TEXT = re.compile(rb"[+-]?(inf|infinity)", re.IGNORECASE)
# Redis adds in a long double; we add in software, 17 significant digits, identical on every
# replica (a long double differs per platform). Results beyond a double's range are refused.
_DECIMAL = decimal.Context(prec=17, rounding=decimal.ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)
_FLOAT_MAX = decimal.Decimal(sys.float_info.max)
# What string2ld() accepts: a stored value outside a long double's range is "not a float"
# (strtold's ERANGE), and it also keeps Decimal's exponent range far away (no Overflow trap).
_LDBL_MAX = decimal.Decimal("1.18973149535723176502e4932")
_LDBL_TRUE_MIN = decimal.Decimal("3.64519953188247460253e-4951")


def format_decimal(d: decimal.Decimal) -> bytes:
    """Redis's human long-double form: plain notation, no trailing zeros, no "-0"."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.encode()


def incr_float_text(value: bytes, delta: float, not_a_float: CommandError) -> bytes | CommandError:
    """The text of `value + delta` for INCRBYFLOAT/HINCRBYFLOAT, or the error Redis gives.

    `value` is the stored text (b"0" when absent); `not_a_float` the command's own error
    for a stored value that is not a number. Never raises: this runs inside apply.
    """
    nan_or_inf = CommandError("increment would produce NaN or Infinity", Reason.NOT_FLOAT)
    infinite = _INFINITY_TEXT.fullmatch(value) is not None
    if not infinite and not _FLOAT_TEXT.fullmatch(value):
        return not_a_float
    if infinite or math.isinf(delta):
        return nan_or_inf
    if math.isnan(delta):
        return CommandError("value is not a valid float", Reason.NOT_FLOAT)
    try:
        current = decimal.Decimal(value.decode())
        if current and not _LDBL_TRUE_MIN <= abs(current) <= _LDBL_MAX:
            return not_a_float
        # repr() is the shortest decimal that round-trips the double: 0.1, not 0.1000000000000000055…
        result = _DECIMAL.add(current, decimal.Decimal(repr(delta)))
    except (decimal.DecimalException, ValueError):
        return not_a_float
    if abs(result) > _FLOAT_MAX:
        return nan_or_inf
    return format_decimal(result)


def format_float(f: float) -> bytes:
    """Redis's reply format for a double: shortest round trip, integers without '.0'."""
    if f == float("inf"):
        return b"inf"
    if f == float("-inf"):
        return b"-inf"
    if f == int(f) and abs(f) < 1e17:
        return b"%d" % int(f)
    text = repr(f)
    return text.encode()


# ---------------------------------------------------------------- glob


def glob_match(pattern: bytes, subject: bytes) -> bool:
    """Redis's stringmatchlen, shared with SCAN (node/keyspace owns the one implementation)."""
    if not pattern or pattern == b"*":
        return True
    from raftcache.node.storage.glob import glob_match as match

    return match(pattern, subject)


def scan_items(items: list, cursor: int, count: int, match: bytes, key=lambda x: x):
    """One SCAN step over an ordered container: (next cursor, items).

    The cursor is a position; Redis allows small containers to return all
    in one step, and so do we when count covers the rest.
    """
    count = count or 10
    if cursor >= len(items):
        return 0, []
    end = cursor + count
    chunk = items[cursor:end]
    if match and match != b"*":
        chunk = [x for x in chunk if glob_match(match, key(x))]
    return (end if end < len(items) else 0), chunk
