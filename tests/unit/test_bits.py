"""Unit tests for node/commands/bits.py (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
LCS): encoded entries applied to a temporary LMDB through the real StateMachine,
reads through StateMachine.read. Expected values follow Redis 7.2 (checked
against redis-server); BITPOS/BITCOUNT/LCS are also compared with
straightforward bit-by-bit and dynamic-programming models on random strings."""

from __future__ import annotations

import random

import pytest
from raftcache.node.errors import CommandError, Reason
from raftcache.node.frontends.resp_bits import build_bitfield
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.proto import commands_pb2 as pb

from tests.unit.test_statemachine import NOW, Node

WRONGTYPE = "Operation against a key holding the wrong kind of value"


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def setv(node, key, value, **kw):
    node.run(set=pb.Set(key=key, value=value, **kw))


def bits_of(value: bytes) -> list[int]:
    return [(byte >> (7 - k)) & 1 for byte in value for k in range(8)]


def error_text(result) -> str:
    assert isinstance(result, CommandError), result
    return result.message


# ---------------------------------------------------------------- SETBIT / GETBIT

def test_setbit_returns_the_old_bit_and_grows_with_zeros(node):
    assert node.run(setbit=pb.SetBit(key=b"k", offset=7, value=1)) == 0
    assert node.get(b"k") == b"\x01"
    assert node.run(setbit=pb.SetBit(key=b"k", offset=7, value=1)) == 1
    assert node.run(setbit=pb.SetBit(key=b"k", offset=7, value=0)) == 1
    assert node.get(b"k") == b"\x00"
    assert node.run(setbit=pb.SetBit(key=b"k", offset=30, value=1)) == 0
    assert node.get(b"k") == b"\x00\x00\x00\x02"
    assert node.run(setbit=pb.SetBit(key=b"zero", offset=9, value=0)) == 0
    assert node.get(b"zero") == b"\x00\x00", "a 0 past the end still creates / grows the key"
    assert node.read(getbit=pb.GetBit(key=b"k", offset=30)) == 1
    assert node.read(getbit=pb.GetBit(key=b"k", offset=31)) == 0
    assert node.read(getbit=pb.GetBit(key=b"k", offset=1000)) == 0
    assert node.read(getbit=pb.GetBit(key=b"missing", offset=3)) == 0


def test_setbit_keeps_the_ttl_and_an_unchanged_bit_writes_nothing(node):
    setv(node, b"k", b"\x80", expiry=pb.Expiry(expire_at_ms=NOW + 60_000))
    with node.ks.reader() as r:
        before = r.get_raw(0, b"k")
    assert node.run(setbit=pb.SetBit(key=b"k", offset=0, value=1)) == 1
    with node.ks.reader() as r:
        assert r.get_raw(0, b"k") == before, "same bit: record (and its WATCH version) untouched"
    assert node.run(setbit=pb.SetBit(key=b"k", offset=1, value=1)) == 0
    with node.ks.reader() as r:
        after = r.get_raw(0, b"k")
    assert after.value == b"\xc0" and after.expires_at_ms == NOW + 60_000 and after.index > before.index


def test_bit_offsets_limits_and_errors(node):
    offset_error = "bit offset is not an integer or out of range"
    assert error_text(node.run(setbit=pb.SetBit(key=b"k", offset=1 << 32, value=1))) == offset_error
    assert error_text(node.read(getbit=pb.GetBit(key=b"k", offset=1 << 32))) == offset_error
    assert error_text(node.run(setbit=pb.SetBit(key=b"k", offset=0, value=2))) == \
        "bit is not an integer or out of range"
    small = Node(node.config.path + "-small", max_value_bytes=1 << 20)
    try:
        assert error_text(small.run(setbit=pb.SetBit(key=b"k", offset=8 << 20, value=1))) == offset_error
        assert small.run(setbit=pb.SetBit(key=b"k", offset=(8 << 20) - 1, value=1)) == 0
        assert len(small.get(b"k")) == 1 << 20
    finally:
        small.ks.close()
    node.put_hash(b"h")
    for op in ({"setbit": pb.SetBit(key=b"h", offset=1, value=1)}, {"getbit": pb.GetBit(key=b"h", offset=1)}):
        run = node.run if "setbit" in op else node.read
        result = run(**op)
        assert result.reason is Reason.WRONGTYPE and result.message == WRONGTYPE


def test_expired_keys_are_invisible(node):
    setv(node, b"k", b"\xff", expiry=pb.Expiry(expire_at_ms=NOW + 10))
    later = NOW + 20
    assert node.read(now_ms=later, getbit=pb.GetBit(key=b"k", offset=0)) == 0
    assert node.read(now_ms=later, bitcount=pb.BitCount(key=b"k")) == 0
    assert node.read(now_ms=later, bitpos=pb.BitPos(key=b"k", bit=0)) == 0
    assert node.run(now_ms=later, setbit=pb.SetBit(key=b"k", offset=1, value=1)) == 0
    with node.ks.reader() as r:
        record = r.get_raw(0, b"k")
    assert record.value == b"\x40" and record.expires_at_ms == 0, "a new key, without the old TTL"


# ---------------------------------------------------------------- BITCOUNT / BITPOS

def test_bitcount_ranges_in_bytes_and_bits(node):
    setv(node, b"s", b"foobar")
    count = lambda **kw: node.read(bitcount=pb.BitCount(key=b"s", **kw))
    assert count() == 26
    assert count(ranged=True, start=0, end=0) == 4
    assert count(ranged=True, start=1, end=1) == 6
    assert count(ranged=True, start=1, end=1, by_bit=True) == 1
    assert count(ranged=True, start=5, end=30, by_bit=True) == 17
    assert count(ranged=True, start=-1, end=-2) == 0
    assert count(ranged=True, start=100, end=200) == 0
    assert count(ranged=True, start=-2, end=1, by_bit=True) == 0
    assert node.read(bitcount=pb.BitCount(key=b"none", ranged=True, start=0, end=5)) == 0
    node.put_hash(b"h")
    assert node.read(bitcount=pb.BitCount(key=b"h")).reason is Reason.WRONGTYPE


def _model_count(value, start, end, by_bit):
    bits = bits_of(value)
    total = len(bits) if by_bit else len(value)
    if start < 0 and end < 0 and start > end:
        return 0
    start, end = (start + total if start < 0 else start), (end + total if end < 0 else end)
    start, end = max(start, 0), min(max(end, 0), total - 1)
    if start > end:
        return 0
    return sum(bits[start:end + 1]) if by_bit else sum(bits[start * 8:end * 8 + 8])


def _model_pos(value, bit, start, end, by_bit):
    bits = bits_of(value)
    if start is None:
        lo, hi, end_given = 0, len(bits) - 1, False
    else:
        total = len(bits) if by_bit else len(value)
        end_given = end is not None
        e = end if end_given else total - 1
        s, e = (start + total if start < 0 else start), (e + total if e < 0 else e)
        s, e = max(s, 0), min(max(e, 0), total - 1)
        if s > e:
            return -1
        lo, hi = (s, e) if by_bit else (s * 8, e * 8 + 7)
    if lo > hi:
        return -1
    for p in range(lo, hi + 1):
        if bits[p] == bit:
            return p
    return -1 if bit or end_given else hi + 1


def test_bitcount_and_bitpos_match_a_bit_by_bit_model(node):
    rng = random.Random(7)
    for round_ in range(60):
        n = rng.choice([1, 2, 3, 8, 17, 40, 300])
        kind = rng.random()
        if kind < 0.3:
            value = bytes(rng.choice([0, 255]) for _ in range(n))
        else:
            value = bytes(rng.getrandbits(8) for _ in range(n))
        setv(node, b"s", value)
        for _ in range(15):
            by_bit = rng.random() < 0.5
            span = n * 8 if by_bit else n
            start, end = rng.randint(-span - 3, span + 3), rng.randint(-span - 3, span + 3)
            got = node.read(bitcount=pb.BitCount(key=b"s", ranged=True, start=start, end=end, by_bit=by_bit))
            assert got == _model_count(value, start, end, by_bit), (value, start, end, by_bit)
            for bit in (0, 1):
                assert node.read(bitpos=pb.BitPos(key=b"s", bit=bit)) == _model_pos(value, bit, None, None, False)
                assert node.read(bitpos=pb.BitPos(key=b"s", bit=bit, start=start)) == \
                    _model_pos(value, bit, start, None, False), (value, bit, start)
                got = node.read(bitpos=pb.BitPos(key=b"s", bit=bit, start=start, end=end, by_bit=by_bit))
                assert got == _model_pos(value, bit, start, end, by_bit), (value, bit, start, end, by_bit)


def test_bitpos_edge_cases_of_redis(node):
    pos = lambda key, bit, **kw: node.read(bitpos=pb.BitPos(key=key, bit=bit, **kw))
    assert pos(b"none", 0) == 0 and pos(b"none", 1) == -1
    assert pos(b"none", 0, start=5, end=10) == 0, "a missing key is all zeros, whatever the range"
    setv(node, b"ff", b"\xff\xff\xff")
    assert pos(b"ff", 0) == 24
    assert pos(b"ff", 0, start=0) == 24
    assert pos(b"ff", 0, start=0, end=-1) == -1
    assert pos(b"ff", 0, start=0, end=-1, by_bit=True) == -1
    setv(node, b"zero", b"\x00\x00\x00")
    assert pos(b"zero", 1) == -1 and pos(b"zero", 0, start=1) == 8
    setv(node, b"empty", b"")
    assert pos(b"empty", 0) == -1 and pos(b"empty", 1) == -1
    assert pos(b"ff", 2).message == "The bit argument must be 1 or 0."


# ---------------------------------------------------------------- BITOP

def test_bitop_and_or_xor_not(node):
    setv(node, b"a", b"\xff\xf0")
    setv(node, b"b", b"\x0f")
    op = lambda kind, *keys, dest=b"d": node.run(bitop=pb.BitOp(key=dest, op=kind, keys=list(keys)))
    assert op(pb.BITOP_AND, b"a", b"b") == 2 and node.get(b"d") == b"\x0f\x00"
    assert op(pb.BITOP_OR, b"a", b"b") == 2 and node.get(b"d") == b"\xff\xf0"
    assert op(pb.BITOP_XOR, b"a", b"b") == 2 and node.get(b"d") == b"\xf0\xf0"
    assert op(pb.BITOP_NOT, b"a") == 2 and node.get(b"d") == b"\x00\x0f"
    assert op(pb.BITOP_AND, b"a", b"missing") == 2 and node.get(b"d") == b"\x00\x00"
    assert op(pb.BITOP_OR, b"a", dest=b"a") == 2 and node.get(b"a") == b"\xff\xf0"
    assert error_text(op(pb.BITOP_NOT, b"a", b"b")) == "BITOP NOT must be called with a single source key."


def test_bitop_empty_result_deletes_the_destination_and_drops_its_ttl(node):
    setv(node, b"d", b"x", expiry=pb.Expiry(expire_at_ms=NOW + 60_000))
    setv(node, b"e", b"")
    assert node.run(bitop=pb.BitOp(key=b"d", op=pb.BITOP_OR, keys=[b"missing", b"e"])) == 0
    assert node.get(b"d") is None
    setv(node, b"d", b"x", expiry=pb.Expiry(expire_at_ms=NOW + 60_000))
    setv(node, b"a", b"\x01")
    assert node.run(bitop=pb.BitOp(key=b"d", op=pb.BITOP_NOT, keys=[b"a"])) == 1
    assert node.read(ttl=pb.Ttl(key=b"d")) == -1


def test_bitop_wrongtype_writes_nothing(node):
    setv(node, b"a", b"\x01")
    node.put_hash(b"h")
    result = node.run(bitop=pb.BitOp(key=b"d", op=pb.BITOP_AND, keys=[b"a", b"h"]))
    assert result.reason is Reason.WRONGTYPE and node.get(b"d") is None


def test_bitop_respects_maxmemory(tmp_path):
    small = Node(str(tmp_path / "small"), maxmemory_bytes=1 << 20)
    try:
        small.run(set=pb.Set(key=b"a", value=b"\x01" * 400_000))
        result = small.run(bitop=pb.BitOp(key=b"d", op=pb.BITOP_NOT, keys=[b"a"]))
        result2 = small.run(bitop=pb.BitOp(key=b"e", op=pb.BITOP_NOT, keys=[b"a"]))
        results = [result, result2, small.run(bitop=pb.BitOp(key=b"f", op=pb.BITOP_NOT, keys=[b"a"]))]
        assert any(isinstance(r, CommandError) and r.reason is Reason.OUT_OF_MEMORY for r in results), results
    finally:
        small.ks.close()


# ---------------------------------------------------------------- BITFIELD

def bitfield(node, *args, ro=False):
    command = build_bitfield(ro)([b"bitfield_ro" if ro else b"bitfield", b"bits",
                                  *[a if isinstance(a, bytes) else str(a).encode() for a in args]], 0)
    name = command.WhichOneof("op")
    op = {name: getattr(command, name)}
    return node.read(**op) if ro else node.run(**op)


def test_bitfield_examples_from_redis(node):
    assert bitfield(node, "set", "i8", 0, -100) == [0]
    assert bitfield(node, "set", "i8", 0, 101) == [-100]
    assert bitfield(node, "get", "i8", 0) == [101]
    node.run(**{"del": pb.Del(keys=[b"bits"])})
    assert bitfield(node, "set", "i8", 0, 255, "set", "i8", 0, 100, "get", "i8", 0) == [0, -1, 100]
    node.run(**{"del": pb.Del(keys=[b"bits"])})
    assert bitfield(node, "set", "u8", 0, 255, "incrby", "u8", 0, 100, "get", "u8", 0) == [0, 99, 99]
    node.run(**{"del": pb.Del(keys=[b"bits"])})
    assert bitfield(node) == []
    for i, ch in enumerate(b"ABC"):
        bitfield(node, "set", "u8", f"#{i}", ch)
    assert node.get(b"bits") == b"ABC"
    assert bitfield(node, "get", "u8", "#1", "get", "i4", 4, ro=True) == [66, 1]


def test_bitfield_overflow_modes(node):
    assert bitfield(node, "set", "u2", 0, 3, "incrby", "u2", 0, 1) == [0, 0]                 # wrap
    assert bitfield(node, "overflow", "sat", "incrby", "u2", 0, 10) == [3]
    assert bitfield(node, "overflow", "sat", "incrby", "u2", 0, -10) == [0]
    assert bitfield(node, "overflow", "fail", "incrby", "u2", 0, 10, "get", "u2", 0) == [None, 0]
    assert bitfield(node, "overflow", "sat", "set", "u8", 8, -1, "get", "u8", 8) == [0, 255]
    assert bitfield(node, "set", "i8", 16, 127, "incrby", "i8", 16, 1) == [0, -128]
    assert bitfield(node, "overflow", "sat", "incrby", "i8", 16, -1000) == [-128]
    assert bitfield(node, "overflow", "sat", "incrby", "i8", 16, 1000) == [127]
    assert bitfield(node, "overflow", "fail", "incrby", "i8", 16, 1) == [None]
    assert bitfield(node, "set", "i64", 64, (1 << 63) - 1, "incrby", "i64", 64, 1) == [0, -(1 << 63)]
    assert bitfield(node, "overflow", "sat", "incrby", "i64", 64, -1) == [-(1 << 63)]
    assert bitfield(node, "set", "u63", 128, -1, "get", "u63", 128) == [0, (1 << 63) - 1]
    assert bitfield(node, "set", "i8", 200, 200, "get", "i8", 200) == [0, -56]


def test_bitfield_writes_only_when_something_changed_and_fail_still_creates(node):
    bitfield(node, "set", "i5", 0, 0)
    with node.ks.reader() as r:
        before = r.get_raw(0, b"bits")
    assert bitfield(node, "set", "i5", 0, 0) == [0]
    with node.ks.reader() as r:
        assert r.get_raw(0, b"bits") == before
    node.run(**{"del": pb.Del(keys=[b"bits"])})
    assert bitfield(node, "overflow", "fail", "incrby", "u2", 100, 9) == [None]
    assert node.get(b"bits") == bytes(13)


def test_bitfield_errors(node):
    node.put_hash(b"bits")
    assert bitfield(node, "get", "u8", 0).reason is Reason.WRONGTYPE
    assert bitfield(node, "get", "u8", 0, ro=True).reason is Reason.WRONGTYPE
    with pytest.raises(RespError, match="BITFIELD_RO only supports the GET subcommand"):
        bitfield(node, "set", "u8", 0, 1, ro=True)
    with pytest.raises(RespError, match="Invalid bitfield type"):
        bitfield(node, "get", "u64", 0)
    with pytest.raises(RespError, match="Invalid OVERFLOW type specified"):
        bitfield(node, "overflow", "foo")
    with pytest.raises(RespError, match="bit offset is not an integer or out of range"):
        bitfield(node, "get", "u8", -1)
    # through gRPC (no front end), apply checks too
    op = pb.BitField(key=b"x", ops=[pb.BitFieldOp(kind=pb.BITFIELD_SET, bits=8, offset=0, value=1)])
    assert error_text(node.read(bitfield_ro=op)) == "BITFIELD_RO only supports the GET subcommand"
    op = pb.BitField(key=b"x", ops=[pb.BitFieldOp(kind=pb.BITFIELD_GET, bits=64, offset=0)])
    assert error_text(node.run(bitfield=op)).startswith("Invalid bitfield type")


# ---------------------------------------------------------------- LCS

def redis_lcs(a: bytes, b: bytes, min_len=0, with_len=False):
    """A direct port of Redis's lcsCommand (DP table + backtrack)."""
    alen, blen = len(a), len(b)
    t = [[0] * (blen + 1) for _ in range(alen + 1)]
    for i in range(1, alen + 1):
        for j in range(1, blen + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
    idx = t[alen][blen]
    result = bytearray(idx)
    ranges = []
    i, j = alen, blen
    a_start, a_end, b_start, b_end = alen, 0, 0, 0
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
            idx, i, j = idx - 1, i - 1, j - 1
        else:
            if t[i - 1][j] > t[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != alen:
                emit = True
        if emit:
            n = a_end - a_start + 1
            if min_len == 0 or n >= min_len:
                ranges.append([[a_start, a_end], [b_start, b_end]] + ([n] if with_len else []))
            a_start = alen
    return bytes(result), ranges, t[alen][blen]


def test_lcs_example_from_the_redis_docs(node):
    setv(node, b"key1", b"ohmytext")
    setv(node, b"key2", b"mynewtext")
    lcs = lambda **kw: node.read(lcs=pb.Lcs(keys=[b"key1", b"key2"], **kw))
    assert lcs() == b"mytext"
    assert lcs(len=True) == 6
    assert lcs(idx=True) == [b"matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len", 6]
    assert lcs(idx=True, min_match_len=4, with_match_len=True) == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    assert error_text(lcs(idx=True, len=True)) == "If you want both the length and indexes, please just use IDX."
    assert node.read(lcs=pb.Lcs(keys=[b"key1", b"missing"])) == b""
    assert node.read(lcs=pb.Lcs(keys=[b"missing", b"missing"], idx=True)) == [b"matches", [], b"len", 0]
    node.put_hash(b"h")
    result = node.read(lcs=pb.Lcs(keys=[b"key1", b"h"]))
    assert result.reason is Reason.INVALID_ARGUMENT and result.message == "The specified keys must contain string values"


def test_lcs_matches_redis_algorithm_on_random_strings(node):
    rng = random.Random(11)
    for _ in range(80):
        alphabet = rng.choice([b"ab", b"ACGT", bytes(range(256))])
        a = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        setv(node, b"a", a)
        setv(node, b"b", b)
        text, ranges, length = redis_lcs(a, b, 2, True)
        assert node.read(lcs=pb.Lcs(keys=[b"a", b"b"])) == text, (a, b)
        assert node.read(lcs=pb.Lcs(keys=[b"a", b"b"], len=True)) == length
        got = node.read(lcs=pb.Lcs(keys=[b"a", b"b"], idx=True, min_match_len=2, with_match_len=True))
        assert got == [b"matches", ranges, b"len", length], (a, b)


def test_lcs_transient_memory_limit(tmp_path):
    small = Node(str(tmp_path / "small"), max_value_bytes=1 << 20)
    try:
        small.run(set=pb.Set(key=b"a", value=b"x" * 600))
        assert error_text(small.read(lcs=pb.Lcs(keys=[b"a", b"a"]))) == \
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    finally:
        small.ks.close()


def test_bit_commands_inside_a_transaction(node):
    tx = pb.Transaction(commands=[
        pb.Command(setbit=pb.SetBit(key=b"k", offset=1, value=1)),
        pb.Command(getbit=pb.GetBit(key=b"k", offset=1)),
        pb.Command(bitcount=pb.BitCount(key=b"k")),
    ])
    assert node.run(transaction=tx) == [0, 1, 1]


# ---------------------------------------------------------------- RESP parsing (node/frontends/resp_bits.py)

BAD_TYPE = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."


def build(*args):
    from raftcache.node.frontends.resp_table import TABLE

    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return TABLE[args[0].lower()].build(args, 0)


@pytest.mark.parametrize("args, text", [
    (("SETBIT", "k", -1, 1), "ERR bit offset is not an integer or out of range"),
    (("SETBIT", "k", 1 << 32, 1), "ERR bit offset is not an integer or out of range"),
    (("SETBIT", "k", "x", 5), "ERR bit offset is not an integer or out of range"),     # offset checked first
    (("SETBIT", "k", 0, 2), "ERR bit is not an integer or out of range"),
    (("GETBIT", "k", "01"), "ERR bit offset is not an integer or out of range"),
    (("BITCOUNT", "k", 0), "ERR syntax error"),
    (("BITCOUNT", "k", "a", 1, "nope"), "ERR value is not an integer or out of range"),  # integers before the unit
    (("BITCOUNT", "k", 0, 1, "nope"), "ERR syntax error"),
    (("BITPOS", "k", 2), "ERR The bit argument must be 1 or 0."),
    (("BITPOS", "k", "x", 0, 0, "nope"), "ERR value is not an integer or out of range"),
    (("BITPOS", "k", 0, 0, "x", "nope"), "ERR syntax error"),                        # unit before end
    (("BITPOS", "k", 0, 0, 1, "bit", "x"), "ERR syntax error"),
    (("BITOP", "nand", "d", "a"), "ERR syntax error"),
    (("BITOP", "not", "d", "a", "b"), "ERR BITOP NOT must be called with a single source key."),
    (("LCS", "a", "b", "MINMATCHLEN"), "ERR syntax error"),
    (("LCS", "a", "b", "MINMATCHLEN", "x"), "ERR value is not an integer or out of range"),
    (("BITFIELD", "k", "get", "I8", 0), BAD_TYPE),
    (("BITFIELD", "k", "get", "i65", 0), BAD_TYPE),
    (("BITFIELD", "k", "get", "u8", "#536870912"), "ERR bit offset is not an integer or out of range"),
    (("BITFIELD", "k", "overflow", "x"), "ERR Invalid OVERFLOW type specified"),
    (("BITFIELD", "k", "incrby", "u8", 0), "ERR syntax error"),
    (("BITFIELD", "k", "set", "u8", 0, "1.5"), "ERR value is not an integer or out of range"),
    (("BITFIELD_RO", "k", "get", "u8", 0, "set", "u8", 0, 1), "ERR BITFIELD_RO only supports the GET subcommand"),
])
def test_resp_argument_errors_have_redis_texts(args, text):
    with pytest.raises(RespError) as e:
        build(*args)
    assert e.value.text == text


def test_resp_builders():
    assert build("BITPOS", "k", 1, 0).bitpos == pb.BitPos(key=b"k", bit=1, start=0)
    assert not build("BITPOS", "k", 1).bitpos.HasField("start")
    assert build("BITCOUNT", "k", 1, -1, "bit").bitcount == pb.BitCount(key=b"k", ranged=True, start=1, end=-1, by_bit=True)
    assert build("BITOP", "xor", "d", "a", "b").bitop == pb.BitOp(key=b"d", op=pb.BITOP_XOR, keys=[b"a", b"b"])
    assert build("LCS", "a", "b", "idx", "minmatchlen", -5, "withmatchlen").lcs == \
        pb.Lcs(keys=[b"a", b"b"], idx=True, min_match_len=0, with_match_len=True)
    command = build("BITFIELD", "k", "get", "i5", "#3", "overflow", "fail", "incrby", "u4", 2, -3)
    assert list(command.bitfield.ops) == [
        pb.BitFieldOp(kind=pb.BITFIELD_GET, signed=True, bits=5, offset=15),
        pb.BitFieldOp(kind=pb.BITFIELD_INCRBY, bits=4, offset=2, value=-3, overflow=pb.OVERFLOW_FAIL)]
    assert build("BITFIELD_RO", "k", "get", "u8", 0).WhichOneof("op") == "bitfield_ro"
