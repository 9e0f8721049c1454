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
