"""Redis's DUMP serialization (node/storage/rdb.py): CRC64 as Redis's crc64.c, LZF
decompression, listpack and intset decoding, the encode/decode round trip, Redis 7.4's
hashes with field TTLs (payloads a real Redis 7.4.1 wrote), and hostile payloads refused
with RdbError only."""

from __future__ import annotations

import random
import struct

import pytest

from raftcache.node import commands
from raftcache.node.commands import dump_restore
from raftcache.node.storage import rdb
from raftcache.proto import commands_pb2 as pb


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


def _lzf_one_byte_at_a_time(data: bytes, size: int) -> bytes:
    """liblzf's loop as written (each byte of a back-reference copied alone): the reference."""
    out, i = bytearray(), 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        for k in range(length + 2):
            out.append(out[ref + k])
    return bytes(out)


def test_lzf_back_references_of_every_offset_and_length_copy_as_liblzf_does():
    rng = random.Random(11)
    for _ in range(300):
        data, made = bytearray(), 0
        for _ in range(rng.randint(1, 12)):
            if made == 0 or rng.random() < 0.3:
                n = rng.randint(1, 32)
                data += bytes([n - 1]) + rng.randbytes(n)
                made += n
            else:
                offset, length = rng.randint(1, min(made, 8191)), rng.choice([3, 4, 8, 9, 10, 100, 264])
                code = min(length - 2, 7)
                data += bytes([(code << 5) | ((offset - 1) >> 8)]) + (bytes([length - 2 - 7]) if code == 7 else b"")
                data += bytes([(offset - 1) & 0xFF])
                made += length
        assert rdb.lzf_decompress(bytes(data), made) == _lzf_one_byte_at_a_time(bytes(data), made)


def _lzf_string(first: int, copies: int) -> bytes:
    """An RDB LZF string of 1 + 264 × `copies` bytes from 2 + 3 × `copies`: one literal byte,
    then back-references of 264 bytes to the byte before (how far LZF expands: ~90 times)."""
    data = bytes([0, first]) + bytes([0xE0, 255, 0]) * copies
    return b"\xc3" + rdb._length(len(data)) + rdb._length(1 + 264 * copies) + data


def test_a_payload_expanding_too_far_together_is_refused_from_version_28(monkeypatch):
    """Each compressed string of a RESTORE payload was bounded alone (by proto-max-bulk-len):
    64 MB of back-references asked ~5.6 GB. From log version 28 (and at every front end) its
    compressed strings together may expand to rdb.MAX_EXPANDED_BYTES; an older entry's apply
    decodes as before."""
    monkeypatch.setattr(rdb, "MAX_EXPANDED_BYTES", 1 << 20)
    members = [_lzf_string(b, 1136) for b in b"abcd"]   # 299,905 bytes each from 3.4 KB
    bomb = payload(bytes([2]) + rdb._length(4) + b"".join(members))   # a set of four members
    assert len(bomb) < 15_000
    with pytest.raises(rdb.RdbError, match="expands past"):
        rdb.decode(bomb)
    error = dump_restore.check(bomb, 1 << 30)
    assert error.message == rdb.EXPANDS_TOO_FAR
    kind, data = dump_restore.check(bomb, 1 << 30, bounded=False)
    assert kind == "set" and sorted(len(m) for m in data) == [299_905] * 4
    three = payload(bytes([2]) + rdb._length(3) + b"".join(members[:3]))
    assert rdb.decode(three)[0] == "set"   # 899,715 bytes: within the bound


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
    b"", b"short", payload(b"\x00\x03bar", version=13), payload(b"\x00\x05bar"), payload(b"\x00\x03barXX"),
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


#: DUMP payloads a real Redis 7.4.1 wrote (RDB version 12): a hash with field TTLs as a listpack
#: (HASH_LISTPACK_EX, under hash-max-listpack-entries) and as a hash table (HASH_METADATA: set
#: to 2 entries; the second with values that are not integers, which Redis would store as
#: integer strings), a hash and a string without any.
REDIS_74 = {
    "listpack_ex": "1900d8c32cbb0300002f2f00000009008161020101f400d8c32cbb030000098163020301f47bd8c32cbb0300000981"
                   "62028374776f040001ff0c00d0843604636854da",
    "metadata": "1800d8c32cbb030000040001620374776f41f50164c004000163c003010161c0010c00c754371e09d9d9a6",
    "metadata_text": "1800d8c32cbb0300000301036f6e6503756e6f80000186a00574687265650474726573000374776f03646f730c0080e4"
                     "3372a5df77d0",
    "hash": "100c0c00000002008178020101ff0c00ca6155d9f1ee3149",
    "string": "000568656c6c6f0c00a804ebb69f1ebe43",
}
Y2100_MS = 4102444800000


def test_redis_7_4_dumps_decode_with_their_field_deadlines():
    decoded = {name: rdb.decode(bytes.fromhex(hexed)) for name, hexed in REDIS_74.items()}
    assert decoded["listpack_ex"] == ("hash", [(b"a", b"1", Y2100_MS), (b"c", b"3", Y2100_MS + 123), (b"b", b"two", 0)])
    kind, fields = decoded["metadata"]
    assert kind == "hash" and sorted(fields) == [(b"a", b"1", Y2100_MS), (b"b", b"two", 0), (b"c", b"3", 0),
                                                 (b"d", b"4", Y2100_MS + 500)]
    assert decoded["metadata_text"] == ("hash", [(b"one", b"uno", Y2100_MS), (b"three", b"tres", Y2100_MS + 99_999),
                                                 (b"two", b"dos", 0)])
    assert decoded["hash"] == ("hash", [(b"x", b"1")])
    assert decoded["string"] == ("string", b"hello")
    assert all(commands.restores_redis74(bytes.fromhex(hexed)) for hexed in REDIS_74.values())   # RDB version 12


def test_a_hash_with_field_ttls_is_dumped_as_redis_7_4_writes_it():
    written = bytes.fromhex(REDIS_74["metadata_text"])
    assert rdb.encode(*rdb.decode(written)) == written   # the same bytes, field for field
    # without a deadline the plain RDB_TYPE_HASH of version 10, which every Redis 7 loads
    plain = rdb.encode("hash", [(b"f", b"v", 0), (b"g", b"w", 0)])
    assert plain[0] == rdb.HASH and not commands.restores_redis74(plain)
    assert rdb.decode(plain) == ("hash", [(b"f", b"v"), (b"g", b"w")])


def test_only_redis_7_4_payloads_need_log_version_27():
    def needed(payload: bytes) -> int:
        return commands.required_version(pb.Command(restore=pb.Restore(key=b"k", payload=payload)))

    assert needed(rdb.encode("string", b"x")) == needed(payload(b"\x00\x01x", version=11)) == needed(b"") \
        == commands.WATCH_VERSION
    assert needed(payload(b"\x00\x01x", version=rdb.FIELD_TTLS_RDB_VERSION)) == commands.RESTORE_74_VERSION
    for rdb_type in rdb.FIELD_TTL_TYPES:   # whatever version its footer says
        assert needed(payload(bytes([rdb_type]) + b"\x00", version=10)) == commands.RESTORE_74_VERSION


def _metadata(earliest: int, *fields: tuple[int, bytes, bytes]) -> bytes:
    body = b"\x18" + struct.pack("<Q", earliest) + bytes([len(fields)])
    for ttl, field, value in fields:
        body += rdb._length(ttl) + bytes([len(field)]) + field + bytes([len(value)]) + value
    return payload(body, version=12)


def test_hash_metadata_deadlines_are_relative_to_the_earliest():
    assert rdb.decode(_metadata(1000, (1, b"a", b"1"), (0, b"b", b"2"), (11, b"c", b"3"))) == \
        ("hash", [(b"a", b"1", 1000), (b"b", b"2", 0), (b"c", b"3", 1010)])


def _listpack(*texts: bytes) -> bytes:
    """A listpack of short strings (each `0x80 | length`, the text, its one-byte back length)."""
    entries = b"".join(bytes([0x80 | len(t)]) + t + bytes([1 + len(t)]) for t in texts)
    return struct.pack("<IH", 6 + len(entries) + 1, len(texts)) + entries + b"\xff"


def test_listpack_ex_triples_decode():
    assert rdb.decode(payload(b"\x17" + rdb._string(_listpack(b"a", b"1", b"77", b"b", b"2", b"0")), 12)) == \
        ("hash", [(b"a", b"1", 77), (b"b", b"2", 0)])


@pytest.mark.parametrize("bad", [
    _metadata(rdb.MAX_STORED_FIELD_DEADLINE_MS, (2, b"a", b"1")),          # past Redis's latest field deadline
    _metadata(rdb.MAX_STORED_FIELD_DEADLINE_MS + 2, (0, b"a", b"1")),      # an earliest deadline past it
    _metadata(5, (1, b"a", b"1"), (2, b"a", b"2")),                  # a field twice
    payload(b"\x19" + struct.pack("<Q", 0) + rdb._string(_listpack(b"a", b"1")), 12),      # a pair, not a triple
    payload(b"\x17" + rdb._string(_listpack(b"a", b"1", b"soon")), 12),                    # a deadline as text
    payload(b"\x17" + rdb._string(_listpack(b"a", b"1", b"-5")), 12),                      # a negative one
])
def test_bad_field_deadlines_are_refused(bad):
    with pytest.raises(rdb.RdbError):
        rdb.decode(bad)
