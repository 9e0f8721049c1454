"""Cluster mode: one step of a slot move, run by this shard's leader for the mover (Admin.Migrate).

The mover (`raftcache ctl reshard`, raftcache/reshard.py) drives a move of
slots from shard S to shard T as steps on the two shards' leaders; each step
here is one entry of this shard's own log (node/commands/slot_migration.py),
proposed by the leader itself, so a step's outcome is what the log says and a
re-run mover finds every step done so far. `export` also chooses the keys: a
SCAN of this node's keyspace (the leader's, which holds every committed
write it answered) from the mover's cursor, keeping the keys of the
migrating slots, then MigrateKeys freezes and copies them at one log index.
`export_dedup` answers a page of the dedup table at one log index of its own.

Must not touch the keyspace or Raft except through the service.
"""

from __future__ import annotations

from raftcache import slots as slotmath
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import admin_pb2
from raftcache.proto import commands_pb2 as pb

#: Stored keys one export step visits at most (whether they are in the moving slots or not).
SCAN_PER_STEP = 5000
#: Keys one export step copies at most.
MAX_EXPORT_KEYS = 500


async def _propose(service, **op) -> tuple[object, int]:
    result, index = await service.propose_leader_only(pb.Command(**op))
    if isinstance(result, CommandError):
        raise result
    return result, index


#: Steps whose reply is only the index their log entry committed at: step -> the Command field.
_INDEX_ONLY_STEPS = {"begin": "begin_migration", "restore": "restore_keys", "drop": "drop_migrated",
                     "import_dedup": "import_dedup", "finish": "finish_migration"}


async def run_step(service, request: admin_pb2.MigrationRequest) -> admin_pb2.MigrationReply:
    """Run one step on the leader; raises NotLeaderError elsewhere and CommandError when the log refuses it."""
    step = request.WhichOneof("step")
    if step in _INDEX_ONLY_STEPS:
        _, index = await _propose(service, **{_INDEX_ONLY_STEPS[step]: getattr(request, step)})
        return admin_pb2.MigrationReply(index=index)
    if step == "export":
        return await _export(service, request.export)
    if step == "export_dedup":
        (after, page), index = await _propose(service, export_dedup=request.export_dedup)
        return admin_pb2.MigrationReply(index=index, dedup_after=after.decode(), dedup=[
            pb.DedupEntry(client_id=c.decode(), sequence=q, now_ms=t, result=r) for c, q, t, r in page])
    raise CommandError("a migration step is needed", Reason.INVALID_ARGUMENT)


async def _export(service, op: admin_pb2.ExportKeys) -> admin_pb2.MigrationReply:
    migration = service.migration
    if migration.current.role != pb.BeginMigration.MIGRATING:
        raise CommandError("no slots are migrating from this shard", Reason.INVALID_ARGUMENT)
    limit = min(op.count or MAX_EXPORT_KEYS, MAX_EXPORT_KEYS)
    cursor = op.cursor
    keys: list[bytes] = []
    if not migration.frozen:   # else: a batch frozen before the mover stopped, answered again
        visited = 0
        while visited < SCAN_PER_STEP and len(keys) < limit:
            result, _ = service.local_read(pb.Command(scan=pb.Scan(cursor=cursor, count=200)))
            if isinstance(result, CommandError):
                raise result
            cursor = int(result[0])
            found = result[1]
            visited += len(found) or 1
            keys.extend(k for k in found if migration.moving[slotmath.key_slot(k)])
            if cursor == 0:
                break
    reply = admin_pb2.MigrationReply(cursor=cursor)
    if keys or migration.frozen:
        batch, reply.index = await _propose(service, migrate_keys=pb.MigrateKeys(keys=keys))
        for key, payload, expiry, *stored in batch:   # stored: a record DUMP does not serialise (version 13)
            item = reply.keys.add(key=key, payload=payload, expire_at_ms=expiry)
            if stored:
                item.record.ParseFromString(stored[0])
    return reply
