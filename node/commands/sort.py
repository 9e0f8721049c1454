"""SORT and SORT_RO (a read) and SORT ... STORE (`sort_store`, a write), as Redis 7.

The elements of a list, set or sorted set, ordered numerically (every
element or BY weight must read as a double) or with ALPHA by their bytes;
BY `pattern` weighs each element by the string key (or, with `->field`, the
hash field) named by the pattern's first `*` replaced with the element, and
BY with no `*` does not sort. Ties are broken by the element's bytes, and DESC
reverses the whole order, as Redis does. LIMIT offset count, GET patterns
(`#` the element itself; a missing key or field is nil), STORE the result as
a list (nil stored as an empty string; an empty result deletes the target).

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

import math
import re

from raftcache.node.commands import SORT_EMPTY_VERSION, SORT_GETS_VERSION
from raftcache.node.errors import CommandError, Reason, wrong_type
from raftcache.node.storage import itemlist, itemmap, itemzset
from raftcache.node.storage.keyspace import Record, ValueType

_NOT_DOUBLE = "One or more scores can't be converted into double"
#: The most GET options one SORT takes (a read always; at apply from log semantics version 20,
#: SORT_GETS_VERSION): each multiplies the reply by the number of elements, and 10,000 of them
#: on a 1,000-element list built 10 million values (7.5 s, 1.3 GB on the node's one thread).
#: Redis has no such bound.
MAX_GETS = 64
# What strtod() reads whole (decimal, hex, inf/infinity, nan — refused after); leading space allowed.
_STRTOD = re.compile(rb"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan"
                     rb"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)", re.IGNORECASE)


def _strtod(text: bytes, empty_is_zero: bool) -> float | None:
    """Redis's strtod of a whole element or weight (None: not a double); `empty_is_zero`: an empty
    one reads as 0, as strtod reads it (log version 24 on; before, not a double)."""
    if not text and empty_is_zero:
        return 0.0
    if not _STRTOD.fullmatch(text):
        return None
    body = text.strip()
    try:
        value = float.fromhex(body.decode()) if b"x" in body.lower() else float(body)
    except (ValueError, OverflowError):
        return None
    return None if math.isnan(value) or math.isinf(value) and b"inf" not in body.lower() else value


def lookup(txn, db: int, pattern: bytes, element: bytes, now_ms: int) -> bytes | None:
    """Redis's lookupKeyByPattern: `#` is the element; else the string key, or hash field
    (`key*->field`), that the pattern names with its first `*` replaced; None when absent."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field, pattern = pattern[arrow + 2:], pattern[:arrow]
    key = pattern[:star] + element + pattern[star + 1:]
    record = txn.get(db, key, now_ms)
    if record is None:
        return None
    if field is None:
        return record.value if record.type == ValueType.STRING else None
    if record.type != ValueType.HASH:
        return None
    return itemmap.ItemMap(txn, db, key, "HASH", record, pairs=True, now_ms=now_ms).get(field)


def _elements(txn, db: int, key: bytes, record: Record, op) -> list[bytes] | CommandError:
    if record.type == ValueType.LIST:
        return itemlist.ItemList(txn, db, key, record).all()
    if record.type == ValueType.SET:
        return sorted(itemmap.ItemMap(txn, db, key, "SET", record, pairs=False).keys())
    if record.type == ValueType.ZSET:
        members = [m for _, m in itemzset.ItemZSet(txn, db, key, record).entries()]
        return members[::-1] if op.no_sort and op.desc else members  # unsorted: the set's order
    return wrong_type()


def _sorted(txn, db: int, elements: list[bytes], op, now_ms: int, empty_is_zero: bool) -> list[bytes] | CommandError:
    by = op.by if op.HasField("by") else None
    weights = elements if by is None else [lookup(txn, db, by, e, now_ms) for e in elements]
    if op.alpha:
        # BY weights: a missing one sorts first (Redis's NULL compare object)
        keyed = [(e if by is None else (w is not None, w or b""), e) for w, e in zip(weights, elements)]
    else:
        keyed = []
        for w, e in zip(weights, elements):
            score = 0.0 if w is None else _strtod(w, empty_is_zero)
            if score is None:
                return CommandError(_NOT_DOUBLE, Reason.NOT_FLOAT)
            keyed.append(((score, e), e))  # equal scores: by the element's bytes, as Redis
    keyed.sort(key=lambda pair: pair[0], reverse=op.desc)
    return [e for _, e in keyed]


def _limit(items: list, op) -> list:
    if not op.limited:
        return items
    start = max(op.offset, 0)
    end = len(items) - 1 if op.count < 0 else start + op.count - 1
    if start >= len(items):
        return []
    return items[start:min(end, len(items) - 1) + 1]


def _result(ctx, op) -> list | CommandError:
    if len(op.get) > MAX_GETS and (not ctx.index or ctx.version >= SORT_GETS_VERSION):
        return CommandError(f"SORT takes at most {MAX_GETS} GET options", Reason.INVALID_ARGUMENT)
    txn, db = ctx.txn, ctx.db
    record = txn.get(db, op.key, ctx.now_ms)
    if record is None:
        elements: list[bytes] | CommandError = []
    else:
        elements = _elements(txn, db, op.key, record, op)
    if isinstance(elements, CommandError):
        return elements
    if not op.no_sort:
        elements = _sorted(txn, db, elements, op, ctx.now_ms, not ctx.index or ctx.version >= SORT_EMPTY_VERSION)
        if isinstance(elements, CommandError):
            return elements
    elements = _limit(elements, op)
    if not op.get:
        return list(elements)
    return [lookup(txn, db, pattern, e, ctx.now_ms) for e in elements for pattern in op.get]


def sort(ctx, op):
    return _result(ctx, op)


def sort_store(ctx, op):
    result = _result(ctx, op)
    if isinstance(result, CommandError):
        return result
    txn, db = ctx.txn, ctx.db
    txn.delete(db, op.store)
    if result:
        _, view = itemlist.load(txn, db, op.store, ctx)
        view.push([b"" if v is None else v for v in result], left=False)
        view.save(ctx)
    return len(result)


HANDLERS = {"sort": sort, "sort_store": sort_store}
