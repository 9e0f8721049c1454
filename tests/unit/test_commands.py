"""Command type numbers are stable, and the codecs round-trip."""

import pytest

from raftcache.node import commands
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb

# The numbers the Raft log records. Changing one breaks every existing log:
# add new commands with new numbers instead.
PINNED = {
    "NOOP": 10, "GET": 11, "SET": 12, "GET_DEL": 13, "GET_EX": 14, "DEL": 15, "EXISTS": 16,
    "INCR_BY": 17, "INCR_BY_FLOAT": 18, "APPEND": 19, "STR_LEN": 20, "GET_RANGE": 21,
    "SET_RANGE": 22, "MSET": 23, "MSET_NX": 24, "MGET": 25, "EXPIRE": 26, "PERSIST": 27,
    "TTL": 28, "TYPE": 29, "RENAME": 30, "SCAN": 31, "DB_SIZE": 32, "FLUSH_ALL": 33,
    "FLUSH_DB": 34, "DELETE_EXPIRED": 35, "MC_INCR": 36, "GET_META": 37, "GET_AND_TOUCH": 38,
    # bits and LCS 40-49
    "SETBIT": 40, "GETBIT": 41, "BITCOUNT": 42, "BITPOS": 43, "BITOP": 44, "LCS": 45,
    "BITFIELD": 46, "BITFIELD_RO": 47,
}


# LMPOP / ZMPOP (node/commands/lists.py, node/commands/zsets.py).
PINNED_MPOP = {"LMPOP": 141, "ZMPOP": 212}
# Eviction and memcached item state (log semantics version 4).
PINNED_EVICTION = {"OBJECT_ACCESS": 306, "EVICT": 340, "META_GET": 341, "META_INVALIDATE": 342}


def test_eviction_command_numbers_are_pinned():
    actual = {t.name: t.value for t in commands.CommandType}
    for name, number in PINNED_EVICTION.items():
        assert actual.get(name) == number, f"{name} must keep type number {number}"


def test_mpop_command_numbers_are_pinned():
    actual = {t.name: t.value for t in commands.CommandType}
    for name, number in PINNED_MPOP.items():
        assert actual.get(name) == number, f"{name} must keep type number {number}"


def test_command_numbers_are_pinned():
    actual = {t.name: t.value for t in commands.CommandType}
    for name, number in PINNED.items():
        assert actual.get(name) == number, f"{name} must keep type number {number}"


def test_command_numbers_are_unique():
    numbers = [t.value for t in commands.CommandType]
    assert len(numbers) == len(set(numbers))


def test_entry_round_trip():
    entry = pb.LogEntry(version=commands.MAX_VERSION, now_ms=1234, client_id="c", sequence=7, seed=99)
    entry.command.db = 3
    entry.command.set.key = b"k"
    entry.command.set.value = b"v"
    assert commands.decode_entries(commands.encode_entry(entry)) == [entry]
    assert commands.decode_entries(commands.encode_batch([entry, entry])) == [entry, entry]


@pytest.mark.parametrize("data", [b"", b"\x02junk", b"\x01\xff\xff\xff", b"\x02"])
def test_garbage_entries_do_not_decode(data):
    with pytest.raises(Exception):
        commands.decode_entries(data)


def test_a_newer_version_is_named_not_decoded():
    newer = pb.LogEntry(version=commands.MAX_VERSION + 1)
    for data in (commands.encode_entry(newer), commands.encode_batch([pb.LogEntry(version=1), newer])):
        with pytest.raises(commands.NewerVersionError) as info:
            commands.decode_entries(data)
        assert info.value.version == commands.MAX_VERSION + 1
    with pytest.raises(commands.NewerVersionError):
        commands.decode_entries(commands.encode_entry(pb.LogEntry(version=2)), max_version=1)


def test_unsigned_results_above_sint64_round_trip():
    for value in ((1 << 63) - 1, 1 << 63, (1 << 64) - 1):
        assert commands.from_value(pb.Value.FromString(commands.to_value(value).SerializeToString())) == value
    with pytest.raises(ValueError):
        commands.to_value(1 << 64)


def test_unknown_fields_are_found_anywhere_in_a_command():
    command = pb.Command(set=pb.Set(key=b"k", value=b"v"))
    assert not commands.has_unknown_fields(command)
    data = command.SerializeToString()
    inner = command.set.SerializeToString() + bytes([0xB8, 0x3E, 0x01])  # field 999 inside Set
    assert commands.has_unknown_fields(pb.Command.FromString(bytes([0x62, len(inner)]) + inner))
    assert commands.has_unknown_fields(pb.Command.FromString(data + bytes([0xB8, 0x3E, 0x01])))


@pytest.mark.parametrize(
    "value",
    [b"bytes", None, 42, -7, 1.5, commands.OK, [b"a", None, [1, 2]], [],
     CommandError("boom", Reason.WRONGTYPE)],
)
def test_value_round_trip(value):
    assert commands.from_value(commands.to_value(value)) == value


def test_status_stays_distinct_from_bytes():
    assert isinstance(commands.from_value(commands.to_value(commands.OK)), commands.Status)
    assert commands.from_value(commands.to_value(b"OK")) == b"OK"


def test_check_limits():
    limits = dict(databases=16, max_key_bytes=10, max_value_bytes=20)
    ok = pb.Command(set=pb.Set(key=b"k", value=b"v"))
    assert commands.check_limits(ok, **limits) is None
    big_key = pb.Command(get=pb.Get(key=b"k" * 11))
    assert commands.check_limits(big_key, **limits).reason is Reason.KEY_TOO_LARGE
    big_value = pb.Command(mset=pb.MSet(pairs=[pb.KeyValue(key=b"a", value=b"v" * 21)]))
    assert commands.check_limits(big_value, **limits).reason is Reason.VALUE_TOO_LARGE
    bad_db = pb.Command(db=16, get=pb.Get(key=b"k"))
    assert commands.check_limits(bad_db, **limits).reason is Reason.INVALID_ARGUMENT
    grows = pb.Command(set_range=pb.SetRange(key=b"k", offset=15, value=b"123456"))
    assert commands.check_limits(grows, **limits).reason is Reason.VALUE_TOO_LARGE


def test_reads_are_classified():
    assert commands.is_read(pb.Command(get=pb.Get(key=b"k")))
    assert not commands.is_read(pb.Command(set=pb.Set(key=b"k")))
    assert not commands.is_read(pb.Command(get_ex=pb.GetEx(key=b"k")))
