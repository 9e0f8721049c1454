"""Resharding's log entries applied to two temporary LMDB keyspaces (a source and a target shard):
the migrating/importing states, -ASK / -TRYAGAIN at apply, a batch copied, the flip by claims,
every step idempotent (a mover re-run after a crash), and the version gate."""

from __future__ import annotations

import pytest

from raftcache import slots
from raftcache.node import commands
from raftcache.node.commands import OK
from raftcache.node.commands.slot_claims import SlotClaim
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node

MIGRATING, IMPORTING = pb.BeginMigration.MIGRATING, pb.BeginMigration.IMPORTING


def _key_in(slot: int, prefix: bytes = b"k") -> bytes:
    n = 0
    while slots.key_slot(b"%s%d" % (prefix, n)) != slot:
        n += 1
    return b"%s%d" % (prefix, n)


@pytest.fixture
def shards(tmp_path):
    source, target = Node(str(tmp_path / "s")), Node(str(tmp_path / "t"))
    source.run(claim_slots=pb.ClaimSlots(shard=1, epoch=1, ranges=[pb.SlotRange(first=0, last=8191)]))
    target.run(claim_slots=pb.ClaimSlots(shard=2, epoch=1, ranges=[pb.SlotRange(first=8192, last=16383)]))
    yield source, target
    source.ks.close()
    target.ks.close()


def _begin(node, role, peer, epoch=2, first=100, last=101):
    return node.run(begin_migration=pb.BeginMigration(role=role, peer=peer, epoch=epoch,
                                                      ranges=[pb.SlotRange(first=first, last=last)]))


def _set(node, key, value, **kw):
    return node.run(set=pb.Set(key=key, value=value, **kw))


def test_a_slot_moves_with_its_keys(shards):
    source, target = shards
    a, b = _key_in(100), _key_in(101)
    assert _set(source, a, b"1") == OK and _set(source, b, b"2", expiry=pb.Expiry(expire_at_ms=NOW + 60_000)) == OK
    assert _begin(target, IMPORTING, 1) == OK and _begin(source, MIGRATING, 2) == OK
    assert _begin(source, MIGRATING, 2) == OK, "the same begin again (a re-run mover) is a no-op"
    # a key the source holds runs there; a key it does not hold is asked of the target
    assert _set(source, a, b"1b") == OK
    other = _key_in(101, b"absent")
    asked = _set(source, other, b"v")
    assert isinstance(asked, CommandError) and asked.reason == Reason.ASK
    assert source.read(get=pb.Get(key=other)).reason == Reason.ASK

    batch = source.run(migrate_keys=pb.MigrateKeys(keys=[a, b, other]))
    assert sorted(k for k, _, _ in batch) == sorted([a, b])
    assert source.run(migrate_keys=pb.MigrateKeys(keys=[])) == batch, "a resumed batch answers the frozen keys"
    frozen = _set(source, a, b"changed")
    assert isinstance(frozen, CommandError) and frozen.reason == Reason.TRY_AGAIN
    assert source.get(a) == b"1b", "a frozen key is still read at the source"

    copied = [pb.MigratedKey(key=k, payload=p, expire_at_ms=e) for k, p, e in batch]
    assert target.run(restore_keys=pb.RestoreKeys(keys=copied)) == 2
    assert target.run(restore_keys=pb.RestoreKeys(keys=copied)) == 2, "restoring again replaces: idempotent"
    assert source.run(drop_migrated=pb.DropMigrated(keys=[a, b])) == 2
    assert source.run(drop_migrated=pb.DropMigrated(keys=[a, b])) == 0
    assert source.read(get=pb.Get(key=a)).reason == Reason.ASK
    assert target.get(a) == b"1b" and target.get(b) == b"2"
    assert target.read(ttl=pb.Ttl(key=b)) > 0

    assert target.run(finish_migration=pb.FinishMigration(epoch=2)) == OK
    assert target.sm.slots.current == SlotClaim(2, 2, ((100, 101), (8192, 16383)))
    assert source.run(finish_migration=pb.FinishMigration(epoch=2)) == OK
    assert source.sm.slots.current == SlotClaim(1, 2, ((0, 99), (102, 8191)))
    assert source.run(finish_migration=pb.FinishMigration(epoch=2)) == OK, "finishing again is a no-op"
    assert not source.sm.migration.active and not target.sm.migration.active
    moved = _set(source, other, b"v")   # validated against an older view, applied after the move
    assert isinstance(moved, CommandError) and moved.reason == Reason.WRONG_SHARD and moved.message == "101 shard-2"
    assert source.read(get=pb.Get(key=a)).reason == Reason.WRONG_SHARD
    assert _set(target, other, b"v") == OK and target.get(a) == b"1b"


def test_finish_waits_for_frozen_keys_and_begin_checks_ownership(shards):
    source, target = shards
    a = _key_in(100)
    _set(source, a, b"1")
    assert isinstance(_begin(source, MIGRATING, 2, first=9000, last=9000), CommandError), "not owned"
    assert isinstance(_begin(target, IMPORTING, 1, first=9000, last=9000), CommandError), "owned already"
    assert isinstance(_begin(source, MIGRATING, 2, epoch=1), CommandError), "not a newer epoch"
    assert _begin(source, MIGRATING, 2) == OK
    assert isinstance(_begin(source, MIGRATING, 2, first=5, last=5), CommandError), "one move at a time"
    source.run(migrate_keys=pb.MigrateKeys(keys=[a]))
    refused = source.run(finish_migration=pb.FinishMigration(epoch=2))
    assert isinstance(refused, CommandError) and source.sm.migration.active
    assert isinstance(target.run(restore_keys=pb.RestoreKeys(keys=[pb.MigratedKey(key=a, payload=b"")])),
                      CommandError), "the target restores only while importing"


def test_the_migration_survives_a_restart(shards):
    source, _ = shards
    a = _key_in(100)
    _set(source, a, b"1")
    _begin(source, MIGRATING, 2)
    source.run(migrate_keys=pb.MigrateKeys(keys=[a]))
    from raftcache.node.commands.statemachine import StateMachine
    again = StateMachine(source.ks, source.config)
    again.apply(source.index + 1, Node.entry(noop=pb.Noop()))
    assert again.migration.active and again.migration.frozen == {a}


def test_an_older_log_version_refuses_the_steps(shards):
    source, _ = shards
    data = commands.encode_entry(pb.LogEntry(version=commands.RESHARD_VERSION - 1, command=pb.Command(
        begin_migration=pb.BeginMigration(role=MIGRATING, peer=2, epoch=2, ranges=[pb.SlotRange(first=1, last=1)]))))
    source.index += 1
    assert isinstance(source.sm.apply(source.index, data), CommandError) and not source.sm.migration.active
    assert commands.required_version(pb.Command(asking=True, get=pb.Get(key=b"k"))) == commands.RESHARD_VERSION


def _move_all(source, target, keys):
    """Begin slots 100-101 from source to target and copy `keys` over (as the mover does)."""
    assert _begin(target, IMPORTING, 1) == OK and _begin(source, MIGRATING, 2) == OK
    batch = source.run(migrate_keys=pb.MigrateKeys(keys=keys))
    copied = [pb.MigratedKey(key=k, payload=p, expire_at_ms=e,
                             record=pb.StoredRecord.FromString(rest[0]) if rest else None)
              for k, p, e, *rest in batch]
    assert target.run(restore_keys=pb.RestoreKeys(keys=copied)) == len(keys)
    assert source.run(drop_migrated=pb.DropMigrated(keys=keys)) == len(keys)
    return batch


def _copy_dedup(source, target):
    after, pages = b"", 0
    while True:
        after, page = source.run(export_dedup=pb.ExportDedup(after=after.decode()))
        entries = [pb.DedupEntry(client_id=c.decode(), sequence=q, now_ms=t, result=r) for c, q, t, r in page]
        assert target.run(import_dedup=pb.ImportDedup(entries=entries)) >= 0
        pages += 1
        if not after:
            return pages


def test_a_retried_write_is_not_applied_again_after_its_slot_moved(shards, monkeypatch):
    source, target = shards
    k = _key_in(100)
    # the SDK's lanes: one counter per client, so a lane's sequences grow whichever shard they go to
    assert target.run(incr_by=pb.IncrBy(key=_key_in(9000), delta=1), client_id="app.1", sequence=3) == 1
    assert target.run(incr_by=pb.IncrBy(key=_key_in(9001), delta=1), client_id="other.1", sequence=40) == 1
    for n in range(5):   # more clients than a page holds
        assert source.run(set=pb.Set(key=_key_in(5, b"p%d" % n), value=b"v"), client_id=f"pad.{n}", sequence=1) == OK
    assert source.run(incr_by=pb.IncrBy(key=k, delta=1), client_id="app.1", sequence=7) == 1   # reply lost
    _move_all(source, target, [k])
    monkeypatch.setattr(commands.dedup, "EXPORT_PAGE_CLIENTS", 2)
    assert _copy_dedup(source, target) == 3   # six clients, two a page
    assert target.run(finish_migration=pb.FinishMigration(epoch=2)) == OK
    assert source.run(finish_migration=pb.FinishMigration(epoch=2)) == OK
    # the retry reaches the new owner: its first outcome, not a second increment
    assert target.run(incr_by=pb.IncrBy(key=k, delta=1), client_id="app.1", sequence=7) == 1
    assert target.get(k) == b"1"
    assert target.run(incr_by=pb.IncrBy(key=k, delta=1), client_id="app.1", sequence=8) == 2, "the next write runs"
    # the target's own entries stay (the higher sequence wins), nothing else was replayed
    replay = target.run(incr_by=pb.IncrBy(key=_key_in(9001), delta=1), client_id="other.1", sequence=40)
    assert replay.result == 1 and target.get(_key_in(9001)) == b"1"
    stale = target.run(incr_by=pb.IncrBy(key=k, delta=1), client_id="app.1", sequence=3)
    assert isinstance(stale, CommandError) and stale.reason == Reason.STALE_SEQUENCE


def test_the_dedup_steps_need_their_roles_and_version(shards):
    source, target = shards
    refused = source.run(export_dedup=pb.ExportDedup())
    assert isinstance(refused, CommandError) and refused.reason == Reason.INVALID_ARGUMENT
    refused = target.run(import_dedup=pb.ImportDedup(entries=[pb.DedupEntry(client_id="c", sequence=1)]))
    assert isinstance(refused, CommandError)
    assert _begin(target, IMPORTING, 1) == OK
    bad = target.run(import_dedup=pb.ImportDedup(entries=[pb.DedupEntry(client_id="c", sequence=1, result=b"\xff")]))
    assert isinstance(bad, CommandError) and bad.reason == Reason.INVALID_ARGUMENT
    assert commands.required_version(pb.Command(export_dedup=pb.ExportDedup())) == commands.RESHARD_DEDUP_VERSION
    data = commands.encode_entry(pb.LogEntry(version=commands.RESHARD_DEDUP_VERSION - 1, command=pb.Command(
        import_dedup=pb.ImportDedup(entries=[pb.DedupEntry(client_id="c", sequence=1)]))))
    target.index += 1
    assert isinstance(target.sm.apply(target.index, data), CommandError)


def _stream(node, key):
    for n in range(1, 4):
        node.run(xadd=pb.XAdd(key=key, fields=[b"f", b"%d" % n], id=pb.StreamId(ms=n, seq=0)))
    node.run(xgroup=pb.XGroup(key=key, kind=pb.XGROUP_CREATE, group=b"g", id=pb.StreamId(ms=0, seq=0)))
    node.run(xreadgroup=pb.XReadGroup(group=b"g", consumer=b"alice", keys=[key], ids=[pb.StreamId(ms=(1 << 64) - 1,
                                                                                                 seq=(1 << 64) - 1)],
                                      count=2))


def test_a_stream_moves_as_stored(shards):
    source, target = shards
    key = _key_in(101, b"stream")
    _stream(source, key)
    whole = pb.XRange(key=key, start=pb.StreamId(), end=pb.StreamId(ms=(1 << 64) - 1, seq=(1 << 64) - 1))
    before = [source.read(xrange=whole), source.read(xinfo=pb.XInfo(key=key, kind=pb.XINFO_GROUPS)),
              source.read(xpending=pb.XPending(key=key, group=b"g"))]
    dumped = source.read(dump=pb.Dump(key=key))
    assert isinstance(dumped, CommandError), "DUMP of a stream is still refused to users"
    batch = _move_all(source, target, [key])
    assert batch[0][1] == b"" and len(batch[0]) == 4, "copied as the record as stored"
    assert source.read(xlen=pb.XLen(key=key)).reason == Reason.ASK
    after = [target.read(xrange=whole), target.read(xinfo=pb.XInfo(key=key, kind=pb.XINFO_GROUPS)),
             target.read(xpending=pb.XPending(key=key, group=b"g"))]
    assert after == before and target.read(xlen=pb.XLen(key=key)) == 3
    # the copy is a stream of its own: written at the target, under a container id of the target's
    assert target.run(xadd=pb.XAdd(key=key, fields=[b"f", b"4"], id=pb.StreamId(ms=9, seq=0)), asking=True) == b"9-0"
    assert target.read(xlen=pb.XLen(key=key)) == 4


def test_before_version_13_a_stream_stops_the_move(shards):
    source, target = shards
    key = _key_in(101, b"stream")
    _stream(source, key)
    assert _begin(target, IMPORTING, 1) == OK and _begin(source, MIGRATING, 2) == OK
    data = commands.encode_entry(pb.LogEntry(version=commands.RESHARD_DEDUP_VERSION - 1, now_ms=NOW,
                                             command=pb.Command(migrate_keys=pb.MigrateKeys(keys=[key]))))
    source.index += 1
    refused = source.sm.apply(source.index, data)
    assert isinstance(refused, CommandError) and "cannot be moved" in refused.message
    record = pb.MigratedKey(key=key, record=pb.StoredRecord(type=6))
    assert commands.required_version(pb.Command(restore_keys=pb.RestoreKeys(keys=[record]))) \
        == commands.RESHARD_DEDUP_VERSION


def test_a_memcached_item_keeps_its_flags_when_it_moves(shards):
    source, target = shards
    flagged, plain = _key_in(100, b"mc"), _key_in(100, b"plain")
    assert _set(source, flagged, b"v", flags=7) == OK and _set(source, plain, b"w") == OK
    batch = _move_all(source, target, [flagged, plain])
    assert {k: len(item) for k, *item in batch} == {flagged: 3, plain: 2}, "only the flagged one as stored"
    assert target.read(get_meta=pb.GetMeta(key=flagged))[1] == 7
    assert target.get(flagged) == b"v" and target.get(plain) == b"w"
