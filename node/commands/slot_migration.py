"""Resharding's replicated state: the hash slots this shard is moving out (MIGRATING) or in (IMPORTING).

A move of slots R from shard S to shard T at epoch E (docs/cluster-mode.md
"Resharding") is a sequence of entries in the two shards' own logs (log
semantics version commands.RESHARD_VERSION), each proposed by that shard's
leader for the mover (`raftcache ctl reshard`):

    T: BeginMigration(IMPORTING, peer S, E, R)   S: BeginMigration(MIGRATING, peer T, E, R)
    repeat:  S: MigrateKeys(keys)  -> the keys frozen and their values (DUMP payload, expiry)
             T: RestoreKeys(values)            S: DropMigrated(keys)
    from version 13:  S: ExportDedup(after) -> a page of its dedup table   T: ImportDedup(page)  (until done)
    T: FinishMigration(E)  (claims its slots + R at E)   S: FinishMigration(E)  (its slots - R at E)

From log semantics version 13 (commands.RESHARD_DEDUP_VERSION) a key DUMP
does not serialise (a stream, a hash with field deadlines, a string with
memcached flags or item state) is answered as the record as stored
(`MigratedKey.record`: type, value, flags, state, item records) and T
stores exactly that, under a container id of its own; and S's dedup table
reaches T before T claims R (node/commands/dedup.py says why a merge where
the higher sequence wins is exact), so a write retried after its slot moved
is not applied twice.

While S migrates R, apply decides where each command on R runs, as Redis
Cluster's migrating state does: a command whose keys all exist in S runs in
S; none exist: -ASK to T (the key moved already, or is new: new keys go to T,
so S's keys of R only ever shrink and one full scan finds them all); some, or
a frozen one (being copied right now): -TRYAGAIN. A frozen key cannot change
between MigrateKeys and DropMigrated, so T's copy is exactly S's last value,
and every key is in S's log or T's at every instant. T serves R only to a
command that carries `asking` (the client was sent by S's -ASK).

The record lives in keyspace meta (snapshots carry it). Every step is
idempotent (a mover that died is re-run): the same Begin again is a no-op,
MigrateKeys with keys already frozen answers those, RestoreKeys replaces,
DropMigrated ignores keys not frozen, Finish once finished is OK. Apply is
total: a step that does not fit the record is an error value, the same on
every replica.

Must not touch: clocks, sockets, Raft. The state machine owns the instance,
calls `load` when the keyspace was replaced, and asks `check` before running
a keyed command (reads included) while a migration is recorded.
"""

from __future__ import annotations

from raftcache import slots as slotmath
from raftcache.commandkeys import command_keys
from raftcache.node import commands
from raftcache.node.commands import OK, dedup, dump_restore
from raftcache.node.commands.slot_claims import SlotClaim
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage.keyspace import (
    ITEM_STALE, ITEM_WIN_SENT, Record, ValueType, container_ref, container_value, is_itemized,
)
from raftcache.proto import commands_pb2 as pb

_META_KEY = b"cluster/migration"
#: An itemized container record's value starts with container id u64 | count u64.
CONTAINER_BYTES = 16
MIGRATING = pb.BeginMigration.MIGRATING
IMPORTING = pb.BeginMigration.IMPORTING
#: Most keys one MigrateKeys freezes (bounds an entry's result and the frozen set).
MAX_BATCH_KEYS = 1000
#: The steps themselves (not checked by `check`: they name the keys they move).
STEPS = frozenset({"begin_migration", "migrate_keys", "restore_keys", "drop_migrated", "finish_migration",
                   "export_dedup", "import_dedup"})
TRYAGAIN_TEXT = "Multiple keys request during rehashing of slot"


def _ranges(op) -> tuple[tuple[int, int], ...]:
    return tuple(slotmath.normalise((r.first, r.last) for r in op.ranges))


def _subtract(ranges, removed) -> list[tuple[int, int]]:
    gone = {s for a, b in removed for s in range(a, b + 1)}
    return slotmath.normalise(_runs(s for a, b in ranges for s in range(a, b + 1) if s not in gone))


def _runs(slots) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s in slots:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]


class SlotMigration:
    """The recorded migration (`current`, role NONE when none) and its slots as a lookup table."""

    def __init__(self):
        self.current = pb.BeginMigration()
        self.moving = bytearray(slotmath.SLOTS)   # 1 for a slot of the recorded migration
        self.frozen: frozenset[bytes] = frozenset()
        #: Set by the cluster view: shard -> "HOST:PORT" that -ASK / -MOVED name (the text of an error
        #: reply), and slot -> the shard the view says owns it.
        self.address_of = None
        self.owner_of = lambda slot: self.gave_to[1]
        #: (epoch, shard) of the last move out of this shard that finished here since start (the view's hint).
        self.gave_to: tuple[int, int] = (0, 0)

    @property
    def active(self) -> bool:
        return self.current.role != pb.BeginMigration.NONE

    def load(self, txn) -> None:
        raw = txn.meta_get(_META_KEY)
        self._set(pb.BeginMigration() if raw is None else pb.BeginMigration.FromString(bytes(raw)))

    def _set(self, record: pb.BeginMigration) -> None:
        self.current = record
        moving = bytearray(slotmath.SLOTS)
        if record.role != pb.BeginMigration.NONE:
            for r in record.ranges:
                moving[r.first:r.last + 1] = b"\x01" * (r.last - r.first + 1)
        self.moving = moving
        self.frozen = frozenset(record.frozen)

    def _store(self, txn, record: pb.BeginMigration) -> None:
        if record.role == pb.BeginMigration.NONE:
            txn.meta_delete(_META_KEY)
        else:
            txn.meta_put(_META_KEY, record.SerializeToString())
        self._set(record)

    # ------------------------------------------------------------ where a command runs

    def check(self, txn, command: pb.Command, now_ms: int, owned: bytearray, read: bool = False) -> CommandError | None:
        """None when this shard runs `command` (its log records the slot as its own, or as importing),
        else the refusal: -MOVED for a slot it does not own (a command checked against a view
        older than the log, e.g. validated before the slot moved and applied after), -ASK /
        -TRYAGAIN while the slot migrates. A read of a frozen key is served (its value cannot
        change until it is dropped)."""
        keys = command_keys(command)
        if not keys:
            return None
        slot = slotmath.key_slot(keys[0])
        moving = self.moving[slot]
        if not owned[slot]:
            if moving and self.current.role == IMPORTING:
                return None   # the front ends let it through only after ASKING (Service._validate)
            return CommandError(f"{slot} {self._address(self.owner_of(slot))}", Reason.WRONG_SHARD)
        if not moving or self.current.role != MIGRATING:
            return None
        if not read and any(key in self.frozen for key in keys):
            return CommandError(TRYAGAIN_TEXT, Reason.TRY_AGAIN)
        distinct = set(keys)
        present = sum(1 for key in distinct if txn.get(command.db, key, now_ms) is not None)
        if present == len(distinct):
            return None
        if present:
            return CommandError(TRYAGAIN_TEXT, Reason.TRY_AGAIN)
        return CommandError(f"{slot} {self._address(self.current.peer)}", Reason.ASK)

    def _address(self, shard: int) -> str:
        if self.address_of is not None and shard:
            try:
                return self.address_of(shard)
            except ValueError:   # a shard this node's map does not list yet (ClusterMapError)
                pass
        return f"shard-{shard}"

    # ------------------------------------------------------------ the steps

    def begin(self, txn, op: pb.BeginMigration, claim: SlotClaim) -> object:
        try:
            ranges = _ranges(op)
        except ValueError as e:
            return CommandError(f"bad slot migration: {e}", Reason.INVALID_ARGUMENT)
        if op.role not in (MIGRATING, IMPORTING) or not ranges or op.peer < 1 or op.frozen:
            return CommandError("bad slot migration: a role, a peer shard and slots are needed",
                                Reason.INVALID_ARGUMENT)
        record = pb.BeginMigration(role=op.role, peer=op.peer, epoch=op.epoch,
                                   ranges=[pb.SlotRange(first=a, last=b) for a, b in ranges])
        current = pb.BeginMigration()
        current.CopyFrom(self.current)
        current.ClearField("frozen")
        if current == record:
            return OK   # the mover again, after a crash
        if self.active:
            return CommandError(f"slots {_text(self.current)} are being moved already", Reason.INVALID_ARGUMENT)
        if claim.epoch < 1 or op.epoch <= claim.epoch:
            return CommandError(f"slot migration at epoch {op.epoch}: this shard's log records epoch {claim.epoch}",
                                Reason.INVALID_ARGUMENT)
        owned = {s for a, b in claim.ranges for s in range(a, b + 1)}
        wanted = {s for a, b in ranges for s in range(a, b + 1)}
        if op.role == MIGRATING and not wanted <= owned:
            return CommandError("cannot migrate slots this shard does not own", Reason.INVALID_ARGUMENT)
        if op.role == IMPORTING and wanted & owned:
            return CommandError("cannot import slots this shard owns", Reason.INVALID_ARGUMENT)
        self._store(txn, record)
        return OK

    def migrate_keys(self, ctx, op: pb.MigrateKeys) -> object:
        if self.current.role != MIGRATING:
            return CommandError("no slots are migrating from this shard", Reason.INVALID_ARGUMENT)
        keys = list(self.current.frozen)
        if not keys:
            for key in dict.fromkeys(op.keys):
                if len(keys) >= MAX_BATCH_KEYS:
                    break
                if self.moving[slotmath.key_slot(key)] and ctx.txn.get(0, key, ctx.now_ms) is not None:
                    keys.append(key)
        out = []
        for key in keys:
            record = ctx.txn.get(0, key, ctx.now_ms)
            if record is None:   # a frozen key that expired (or was evicted) since: nothing to copy
                out.append([key, b"", -1])
                continue
            as_stored = ctx.version >= commands.RESHARD_DEDUP_VERSION
            payload = None
            if not (as_stored and record.type == ValueType.STRING and (record.flags or record.state)):
                payload = dump_restore.dump(ctx, pb.Dump(key=key), field_ttls=False)   # (those: as stored)
            if as_stored and (payload is None or isinstance(payload, CommandError)):   # what DUMP leaves out
                out.append([key, b"", record.expires_at_ms, _stored(ctx.txn, record).SerializeToString()])
            elif isinstance(payload, CommandError):
                return CommandError(f"key {key!r} cannot be moved: {payload.message}", payload.reason)
            else:
                out.append([key, payload, record.expires_at_ms])
        if keys and not self.current.frozen:
            record = pb.BeginMigration()
            record.CopyFrom(self.current)
            record.frozen.extend(keys)
            self._store(ctx.txn, record)
        return out

    def restore_keys(self, ctx, op: pb.RestoreKeys) -> object:
        if self.current.role != IMPORTING:
            return CommandError("no slots are importing into this shard", Reason.INVALID_ARGUMENT)
        restored = 0
        for item in op.keys:
            if not self.moving[slotmath.key_slot(item.key)]:
                return CommandError(f"key {item.key!r} is not in an importing slot", Reason.INVALID_ARGUMENT)
        for item in op.keys:
            if item.expire_at_ms < 0:   # gone at the source while frozen
                ctx.txn.delete(0, item.key)
                continue
            if item.HasField("record"):
                result = _restore_stored(ctx, item.key, item.record, item.expire_at_ms)
                if isinstance(result, CommandError):
                    return result
                restored += 1
                continue
            result = dump_restore.restore(ctx, pb.Restore(key=item.key, payload=item.payload, replace=True,
                                                          absttl=True, ttl_ms=item.expire_at_ms))
            if isinstance(result, CommandError):
                return result
            restored += 1
        return restored

    def export_dedup(self, txn, op: pb.ExportDedup) -> object:
        """[next client to continue after (b"": done), [[client, sequence, now_ms, result], ...]]."""
        if self.current.role != MIGRATING:
            return CommandError("no slots are migrating from this shard", Reason.INVALID_ARGUMENT)
        page, after = dedup.export_page(txn, op.after)
        return [after.encode(), [[e.client_id.encode(), e.sequence, e.now_ms, e.result] for e in page]]

    def import_dedup(self, txn, op: pb.ImportDedup) -> object:
        if self.current.role != IMPORTING:
            return CommandError("no slots are importing into this shard", Reason.INVALID_ARGUMENT)
        return dedup.merge(txn, op.entries)

    def drop_migrated(self, txn, op: pb.DropMigrated) -> object:
        if self.current.role != MIGRATING:
            return CommandError("no slots are migrating from this shard", Reason.INVALID_ARGUMENT)
        dropped = [key for key in dict.fromkeys(op.keys) if key in self.frozen]
        for key in dropped:
            txn.delete(0, key)
        if dropped:
            record = pb.BeginMigration()
            record.CopyFrom(self.current)
            gone = set(dropped)
            record.ClearField("frozen")
            record.frozen.extend(k for k in self.current.frozen if k not in gone)
            self._store(txn, record)
        return len(dropped)

    def finish(self, op: pb.FinishMigration, claim: SlotClaim) -> tuple[object, pb.ClaimSlots | None]:
        """(result, the claim to record or None); once the claim is recorded, `clear` ends the migration."""
        record = self.current
        if not self.active:
            if claim.epoch == op.epoch:
                return OK, None   # finished already
            return CommandError("no slot migration to finish", Reason.INVALID_ARGUMENT), None
        if record.epoch != op.epoch:
            return CommandError(f"the slot migration in progress is at epoch {record.epoch}",
                                Reason.INVALID_ARGUMENT), None
        if record.frozen:
            return CommandError("keys are still being copied", Reason.INVALID_ARGUMENT), None
        moved = _ranges(record)
        if record.role == MIGRATING:
            ranges = _subtract(claim.ranges, moved)
        else:
            ranges = slotmath.normalise([*claim.ranges, *moved])
        return OK, SlotClaim(claim.shard, record.epoch, tuple(ranges)).to_proto()

    def clear(self, txn) -> None:
        if self.current.role == MIGRATING:
            self.gave_to = (self.current.epoch, self.current.peer)
        self._store(txn, pb.BeginMigration())


def _stored(txn, record: Record) -> pb.StoredRecord:
    """`record` as stored, with its item records when it is an itemized container."""
    out = pb.StoredRecord(type=int(record.type), value=record.value, flags=record.flags, state=record.state)
    if is_itemized(record):
        cid, _ = container_ref(record)
        out.items.extend(pb.StoredItem(key=k, value=v) for k, v in txn.items(cid))
    return out


def _restore_stored(ctx, key: bytes, stored: pb.StoredRecord, expire_at_ms: int) -> CommandError | None:
    """Store a record copied as stored: its items under a new container id of this keyspace."""
    try:
        kind = ValueType(stored.type)
    except ValueError:
        return CommandError(f"key {key!r}: unknown value type {stored.type}", Reason.INVALID_ARGUMENT)
    if stored.state and (kind != ValueType.STRING or stored.state & ~(ITEM_STALE | ITEM_WIN_SENT)):
        return CommandError(f"key {key!r}: a bad item state", Reason.INVALID_ARGUMENT)
    record = Record(kind, stored.value, max(expire_at_ms, 0), ctx.index, stored.flags, stored.state)
    txn = ctx.txn
    if is_itemized(record):
        if len(stored.value) < CONTAINER_BYTES:
            return CommandError(f"key {key!r}: a container record too short", Reason.INVALID_ARGUMENT)
        cid = txn.new_container_id()
        for item in stored.items:
            txn.item_put(cid, item.key, item.value)
        record = record._replace(value=container_value(cid, container_ref(record)[1])
                                 + stored.value[CONTAINER_BYTES:])
    elif stored.items:
        return CommandError(f"key {key!r}: items for a record that has none", Reason.INVALID_ARGUMENT)
    txn.put(0, key, record)
    return None


def _text(record: pb.BeginMigration) -> str:
    role = "to" if record.role == MIGRATING else "from"
    return f"{slotmath.format_ranges(_ranges(record))} ({role} shard {record.peer}, epoch {record.epoch})"
