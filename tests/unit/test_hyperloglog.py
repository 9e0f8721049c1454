"""The HyperLogLog codec (node/storage/hyperloglog.py) against a real redis-server:
the bytes of the value after the same PFADDs (sparse, dense, promotions at
several hll-sparse-max-bytes), the counts, and values made by Redis read here."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from raftcache.node import commands
from raftcache.node.errors import CommandError
from raftcache.node.storage import hyperloglog as hll
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node


def _elements(rng: random.Random, n: int) -> list[bytes]:
    return [rng.randbytes(rng.randint(0, 24)) if rng.random() < 0.5 else str(rng.random()).encode()
            for _ in range(n)]


def _pfadd(value: bytearray | None, elements: list[bytes], sparse_max: int) -> bytearray:
    """What PFADD does to a value (node/commands/hyperloglog.py's pfadd, without the keyspace)."""
    created = value is None
    value, changed = hll.add(hll.new() if created else value, elements, sparse_max)
    if created or changed:
        hll.invalidate(value)
    return value


def _pfcount(value: bytearray) -> int:
    if hll.cached_count(value) is None:
        hll.store_count(value, hll.count(value))
    return hll.cached_count(value)


@pytest.mark.parametrize("sparse_max", [3000, 300, 40])
def test_pfadd_writes_the_bytes_redis_writes(real_redis, sparse_max):
    real_redis.config_set("hll-sparse-max-bytes", sparse_max)
    rng = random.Random(sparse_max)
    for trial in range(25):
        real_redis.delete("k")
        value = None
        for _ in range(rng.randint(1, 12)):
            elements = _elements(rng, rng.choice([0, 1, 3, 40, 150]))
            real_redis.execute_command("PFADD", "k", *elements)
            value = _pfadd(value, elements, sparse_max)
            if rng.random() < 0.3:
                assert _pfcount(value) == real_redis.pfcount("k")
        assert bytes(value) == real_redis.get("k"), (trial, hll.encoding(value))


def test_dense_counts_and_unions_match_redis(real_redis):
    rng = random.Random(7)
    values = []
    for i, n in enumerate((5, 900, 20_000)):
        elements = _elements(rng, n)
        for chunk in range(0, n, 5000):
            real_redis.pfadd(f"h{i}", *elements[chunk:chunk + 5000])
        values.append(_pfadd(None, elements, hll.SPARSE_MAX_BYTES))
        assert _pfcount(values[-1]) == real_redis.pfcount(f"h{i}")
        assert bytes(values[-1]) == real_redis.get(f"h{i}")
    assert hll.encoding(values[-1]) == hll.DENSE
    union = bytes(hll.REGISTERS)
    for value in values:
        union = hll.merge_max(union, value)
    assert hll.count_registers(union) == real_redis.pfcount("h0", "h1", "h2")


@pytest.mark.parametrize("seed", range(6))
def test_merge_max_is_the_register_wise_maximum(seed):
    """merge_max's big-integer lanes give max() of each register pair, for sparse and dense
    values and for registers at 0 and at their largest (63); dense_with packs them as setting
    them one by one does."""
    rng = random.Random(seed)
    into = bytes(rng.choice((0, 63, rng.randint(0, 63))) for _ in range(hll.REGISTERS))
    for sparse_max in (hll.SPARSE_MAX_BYTES, 0):
        value = _pfadd(None, _elements(rng, rng.choice([0, 30, 5000])), sparse_max)
        if seed == 5:
            value = hll.to_dense(value)
            hll.set_registers(value, ((i, 63) for i in range(0, hll.REGISTERS, 7)), 0)
        wanted = bytes(map(max, into, hll.registers(value)))
        assert hll.merge_max(into, value) == wanted
        into = wanted
        # PFMERGE's dense result packed at once, as register by register
        one_by_one, _ = hll.set_registers(hll.to_dense(hll.new()), ((i, r) for i, r in enumerate(wanted) if r), 0)
        assert hll.dense_with(value, wanted)[hll.HEADER_BYTES:] == one_by_one[hll.HEADER_BYTES:]
        assert hll.registers(hll.dense_with(value, wanted)) == list(wanted)


def test_a_value_of_zero_runs_past_16384_registers_is_refused_before_it_is_built():
    """A string that looks like a sparse HLL, its opcodes XZERO runs of 16,384 registers each
    (2 bytes asking 16 KB): refused as corrupted by every reading, without building the
    registers it asks for (40 KB of them asked 365 MB of PFADD's promotion to dense)."""
    crafted = bytes(hll.new()) + hll._xzero(hll.REGISTERS) * 20_000
    tracemalloc.start()
    try:
        for read in (hll.to_dense, hll.registers, hll.count, lambda v: hll.merge_max(bytes(hll.REGISTERS), v)):
            with pytest.raises(hll.Invalid):
                read(crafted)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def _run_at(node, version: int, **op):
    node.index += 1
    return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
        version=version, now_ms=node.now_ms, command=pb.Command(**op))))


def test_a_sparse_value_too_long_for_its_registers_is_corrupted_from_version_28(tmp_path):
    """A string shaped as a sparse HLL longer than any holding 16384 registers (here 2 MB of
    VAL opcodes past them): from log version 28 every HLL command refuses it unread, as Redis's
    PFCOUNT does; an entry of an older version still takes it as PFADD and PFMERGE did; the
    longest sparse value that can be right is still read."""
    node = Node(str(tmp_path / "ks"))
    crafted = bytes(hll.new()) + b"\x80" * (2 << 20)
    assert node.run(set=pb.Set(key=b"h", value=crafted)) == commands.OK
    for op in (dict(pfadd=pb.PfAdd(key=b"h", elements=[b"x"])), dict(pfcount=pb.PfCount(keys=[b"h"])),
               dict(pfmerge=pb.PfMerge(key=b"m", keys=[b"h"]))):
        reply = node.run(**op)
        assert isinstance(reply, CommandError) and reply.message == "Corrupted HLL object detected", op
    assert _run_at(node, commands.HLL_EXACT_VERSION - 1, pfmerge=pb.PfMerge(key=b"m", keys=[b"h"])) == commands.OK
    longest = bytes(hll.new())[:hll.HEADER_BYTES] + hll._xzero(1) * hll.REGISTERS   # 16384 opcodes of one register
    assert len(longest) == hll.SPARSE_LIMIT_BYTES
    assert node.run(set=pb.Set(key=b"l", value=longest)) == commands.OK
    assert node.run(pfcount=pb.PfCount(keys=[b"l"])) == 0
    node.ks.close()


def test_values_made_by_redis_count_the_same_here(real_redis):
    rng = random.Random(3)
    for n in (0, 1, 100, 3000, 50_000):
        real_redis.delete("k")
        real_redis.execute_command("PFADD", "k", *_elements(rng, n))
        value = bytearray(real_redis.get("k"))
        assert hll.is_hll(value)
        assert hll.count(value) == real_redis.pfcount("k")
        if hll.encoding(value) == hll.SPARSE:
            assert real_redis.execute_command("PFDEBUG", "DECODE", "k").decode() == hll.decode_sparse(value)
        assert hll.registers(value) == real_redis.execute_command("PFDEBUG", "GETREG", "k")
        assert bytes(hll.to_dense(value))[16:] == real_redis.get("k")[16:]


def test_the_hash_and_the_empty_value():
    assert hll.new() == b"HYLL\x01" + bytes(11) + b"\x7f\xff"
    assert hll.count(hll.new()) == 0
    index, run = hll.pattern(b"a")
    assert 0 <= index < hll.REGISTERS and 1 <= run <= hll.Q + 1
    assert hll.murmur64a(b"") != hll.murmur64a(b"\x00")


def test_corrupted_values_are_detected_not_raised_through():
    value = _pfadd(None, [b"a", b"b", b"c"], 3000)
    for broken in (value + b"hello", value[:-1], bytes(value[:16]) + b"\x40"):
        with pytest.raises(hll.Invalid):
            hll.count(broken)
        with pytest.raises(hll.Invalid):
            hll.registers(broken)
    assert not hll.is_hll(b"HYLL\x02" + bytes(11))
    assert not hll.is_hll(b"HYLL\x00" + bytes(20))       # dense of the wrong size
    assert not hll.is_hll(b"0123" + bytes(value[4:]))
    rng = random.Random(11)
    for _ in range(300):  # random damage: an error or a value, never another exception
        broken = bytearray(_pfadd(None, _elements(rng, rng.randint(0, 300)), 3000))
        for _ in range(rng.randint(1, 4)):
            broken[rng.randrange(16, len(broken))] = rng.randrange(256)
        try:
            hll.add(bytearray(broken), _elements(rng, 20), 3000)
            hll.count(broken)
        except hll.Invalid:
            pass


def test_selftest_passes():
    assert hll.selftest(random.Random(1), cycles=1, limit=1000) is None
