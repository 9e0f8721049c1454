"""Redis's DUMP serialization (node/storage/rdb.py): CRC64 as Redis's crc64.c, LZF
decompression, listpack and intset decoding, the encode/decode round trip, and
hostile payloads refused with RdbError only."""

from __future__ import annotations

import random
import struct

import pytest

from raftcache.node.storage import rdb


def payload(body: bytes, version: int = 10) -> bytes:
    body += struct.pack("<H", version)
    return body + struct.pack("<Q", rdb.crc64(body))


def test_crc64_is_redis_jones_variant():
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # the check value in Redis's crc64.c


def test_a_redis_7_string_dump_decodes():
    assert rdb.decode(b"\x00\x03bar\n\x00\xe6\xbeI`\xeef\xfd\x17") == ("string", b"bar")


@pytest.mark.parametrize("value", [
    ("string", b""), ("string", b"x" * 70_000), ("list", [b"a", b"", b"c" * 20_000]), ("set", [b"1", b"b"]),
    ("hash", [(b"f", b"v"), (b"g", b"")]), ("zset", [(b"m", 1.5), (b"n", float("-inf"))]),
])
def test_encode_decode_round_trip(value):
    assert rdb.decode(rdb.encode(*value)) == value


def test_lzf_literals_back_references_and_overlapping_copies():
    # literal "abc", then copy 6 bytes from 3 back (overlapping): "abcabcabc"
    data = bytes([2]) + b"abc" + bytes([(4 << 5) | 0, 2])
    assert rdb.lzf_decompress(data, 9) == b"abcabcabc"
    long_copy = bytes([0]) + b"z" + bytes([(7 << 5) | 0, 10, 0])  # length 7 + 10 + 2 = 19
    assert rdb.lzf_decompress(long_copy, 20) == b"z" * 20
    for bad, size in [(bytes([5]) + b"ab", 6), (bytes([(1 << 5), 9]), 3), (bytes([0]) + b"a", 2)]:
        with pytest.raises(rdb.RdbError):
            rdb.lzf_decompress(bad, size)


def listpack(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IH", 6 + len(body) + 1, len(entries)) + body + b"\xff"


def test_listpack_integer_and_string_encodings():
    entries = [
        bytes([0x05, 1]),                          # 7-bit uint
        bytes([0xC0 | 0x1F, 0xFF, 2]),             # 13-bit int: -1
        b"\xf1" + struct.pack("<h", -300) + b"\x03",
        b"\xf2" + (70000).to_bytes(3, "little", signed=True) + b"\x04",
        b"\xf3" + struct.pack("<i", -(2**31)) + b"\x05",
        b"\xf4" + struct.pack("<q", 2**40) + b"\x09",
        bytes([0x80 | 3]) + b"abc" + b"\x04",      # 6-bit string
        bytes([0xE0 | 0, 70]) + b"s" * 70 + b"\x48",  # 12-bit string
    ]
    assert rdb.listpack(listpack(*entries)) == [b"5", b"-1", b"-300", b"70000", b"-2147483648", b"%d" % 2**40,
                                               b"abc", b"s" * 70]


def test_intset_and_compact_types_decode():
    ints = struct.pack("<II", 2, 3) + struct.pack("<3h", -1, 2, 300)
    assert rdb.decode(payload(bytes([rdb.SET_INTSET, len(ints)]) + ints)) == ("set", [b"-1", b"2", b"300"])
    lp = listpack(bytes([0x80 | 1]) + b"f" + b"\x02", bytes([7]) + b"\x01")
    assert rdb.decode(payload(bytes([rdb.HASH_LISTPACK, len(lp)]) + lp)) == ("hash", [(b"f", b"7")])
    quick = bytes([rdb.LIST_QUICKLIST_2, 2, 1, 1]) + b"p" + bytes([2, len(lp)]) + lp
    assert rdb.decode(payload(quick)) == ("list", [b"p", b"f", b"7"])


@pytest.mark.parametrize("bad", [
    b"", b"short", payload(b"\x00\x03bar", version=12), payload(b"\x00\x05bar"), payload(b"\x00\x03barXX"),
    payload(b"\x15\x00"), payload(b"\x02\x00"), payload(b"\x04\x02\x01a\x01b\x01a\x01c"),
    payload(b"\x05\x01\x01m" + struct.pack("<d", float("nan"))),
])
def test_bad_payloads_are_refused(bad):
    with pytest.raises(rdb.RdbError):
        rdb.decode(bad)


def test_random_payloads_raise_only_rdb_errors():
    rng = random.Random(7)
    good = [rdb.encode("hash", [(b"f%d" % i, b"v") for i in range(20)]), rdb.encode("zset", [(b"m", 1.0)])]
    for _ in range(3000):
        base = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 4)):
            base[rng.randrange(len(base) - 10)] = rng.randrange(256)
        body = bytes(base[:-10]) + struct.pack("<H", 10)
        try:
            rdb.decode(body + struct.pack("<Q", rdb.crc64(body)))
        except rdb.RdbError:
            pass


def ziplist(*entries: bytes) -> bytes:
    """A ziplist as Redis 6 wrote them: each entry after its previous entry's length."""
    body, previous = b"", 0
    for entry in entries:
        item = (bytes([previous]) if previous < 254 else b"\xfe" + struct.pack("<I", previous)) + entry
        body += item
        previous = len(item)
    return struct.pack("<IIH", 10 + len(body) + 1, 10 + len(body) - previous, len(entries)) + body + b"\xff"


def test_redis_6_ziplists_decode():
    long = b"L" * 300
    zl = ziplist(b"\x01f", b"\x01v", b"\x01n", b"\xf6", b"\x01i", b"\xc0" + struct.pack("<h", -2),
                 b"\x01w", b"\xfe\x7f", b"\x01z", b"\xf0" + (-70000).to_bytes(3, "little", signed=True),
                 b"\x01b", b"\x41\x2c" + long, b"\x01q", b"\xe0" + struct.pack("<q", 2**40))
    fields = [(b"f", b"v"), (b"n", b"5"), (b"i", b"-2"), (b"w", b"127"), (b"z", b"-70000"), (b"b", long),
              (b"q", b"%d" % 2**40)]
    assert rdb.decode(payload(bytes([rdb.HASH_ZIPLIST, 0x40 | (len(zl) >> 8), len(zl) & 0xFF]) + zl)) == \
        ("hash", fields)
    scores = ziplist(b"\x01a", b"\x031.5", b"\x01b", b"\xf3")
    assert rdb.decode(payload(bytes([rdb.ZSET_ZIPLIST, len(scores)]) + scores)) == ("zset", [(b"a", 1.5), (b"b", 2.0)])
    node = ziplist(b"\x01x", b"\xf1")
    assert rdb.decode(payload(bytes([rdb.LIST_QUICKLIST, 2, len(node)]) + node + bytes([len(node)]) + node)) == \
        ("list", [b"x", b"0", b"x", b"0"])
    with pytest.raises(rdb.RdbError):
        rdb.ziplist(zl[:-2] + b"\xff")
