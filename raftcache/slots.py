"""Redis Cluster's hash slots: which of the 16,384 slots a key belongs to, and slot ranges.

`key_slot` is Redis's own (src/cluster.c keyHashSlot): CRC16-XMODEM of the key,
or of its hash tag -- the bytes between the first `{` and the first `}` after
it, when that is not empty -- modulo 16,384. The node (MOVED, CROSSSLOT, CLUSTER
KEYSLOT), the launcher (the initial assignment) and the SDK share this module.

Imports nothing from raftcache.node or raftcache.client: both use it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The number of hash slots (Redis Cluster's CLUSTER_SLOTS).
SLOTS = 16384


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis's crc16.c."""
    crc = 0
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def hash_tag(key: bytes) -> bytes:
    """The part of `key` that is hashed: its `{tag}` when it has a non-empty one, else the key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key: bytes) -> int:
    """The hash slot of `key` (0..16383), exactly as Redis Cluster computes it."""
    return crc16(hash_tag(key)) & (SLOTS - 1)


# ---------------------------------------------------------------- slot ranges

Range = tuple[int, int]   # (first, last), both included, as CLUSTER SLOTS reports them


def split_evenly(shards: int) -> list[list[Range]]:
    """The initial assignment of `raftcache up --shards S`: S contiguous ranges as even as
    can be (redis-cli --cluster create's split: shard i gets [i*16384/S, (i+1)*16384/S - 1])."""
    if not 1 <= shards <= SLOTS:
        raise ValueError(f"shards must be within 1..{SLOTS}")
    return [[(i * SLOTS // shards, (i + 1) * SLOTS // shards - 1)] for i in range(shards)]


def parse_ranges(text: str) -> list[Range]:
    """`A-B,C,D-E` (as `ctl reshard --slots` and the cluster map spell them) -> sorted ranges;
    raises ValueError for a slot outside 0..16383, a reversed range or overlapping ones."""
    ranges = []
    for part in text.split(","):
        part = part.strip()
        first, sep, last = part.partition("-")
        try:
            bounds = (int(first), int(last) if sep else int(first))
        except ValueError:
            raise ValueError(f"bad slot range {part!r}: expected A-B or A") from None
        ranges.append(bounds)
    return normalise(ranges)


def normalise(ranges: Iterable[Iterable[int]]) -> list[Range]:
    """Sorted, checked (first, last) pairs; adjacent ranges are merged. ValueError when a range is
    out of 0..16383, reversed, or overlaps another."""
    out: list[Range] = []
    for pair in sorted(tuple(r) for r in ranges):
        if len(pair) != 2:
            raise ValueError(f"bad slot range {pair!r}: expected [first, last]")
        first, last = pair
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last < SLOTS):
            raise ValueError(f"bad slot range {first}-{last}: slots are 0..{SLOTS - 1}, first <= last")
        if out and first <= out[-1][1]:
            raise ValueError(f"slot ranges overlap at {first}")
        if out and first == out[-1][1] + 1:
            out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def format_ranges(ranges: Iterable[Range]) -> str:
    """The inverse of parse_ranges: `0-8191,9000`."""
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)


def count(ranges: Iterable[Range]) -> int:
    return sum(last - first + 1 for first, last in ranges)
