"""The quota wrapper of the apply chain: a write that fails, or that grows the data
past maxmemory, is undone (Redis's denyoom rule, measured exactly rather than
decided per command name). A write that would pass maxmemory first evicts the
candidates its log entry offers (node/commands/eviction.py) until it fits; only
when none are left is it refused with OOM. Used by the state machine for every
write, by transactions for each queued command, and by scripts for each command
they run (`within_quota`: node/scripting/engine.py); the evictions a script's
commands make are counted only if the script is kept. Must not touch: time,
random, grpc, Raft.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raftcache.node import commands
from raftcache.node.commands import scripting
from raftcache.node.errors import CommandError, failed, out_of_memory
from raftcache.node.storage.keyspace import WriteTxn
from raftcache.proto import commands_pb2 as pb

if TYPE_CHECKING:
    from raftcache.node.commands.strings import Ctx


def run_with_quota(txn: WriteTxn, handler, ctx: Ctx, op) -> object:
    """Run a write; undo it when it failed or grew the data past maxmemory.

    Deletes and writes that do not grow the logical size are always
    allowed, so a full node can still be emptied (Redis's denyoom rule,
    measured exactly rather than per command name).
    """
    if type(op) in _ONLY_DELETE:
        return handler(ctx, op)  # never refused, never an error: nothing to undo
    if type(op) is pb.Eval:
        return _run_script(txn, handler, ctx, op)
    return _run(txn, handler, ctx, op)


def _run_script(txn: WriteTxn, handler, ctx: Ctx, op: pb.Eval) -> object:
    """A script: what its commands leave besides their writes (the evictions they made, counted
    in INFO and notified; the keyspace events they noted) is kept only if the script is."""
    room, notes = ctx.room, txn.notes
    outer = room.hold() if room is not None else None
    noted = len(notes) if notes is not None else 0
    kept = False
    try:
        result = _run(txn, handler, ctx, op)
        kept = not failed(result)   # an error rolls the script back (not one it returned: log version 24)
    finally:
        if room is not None:
            room.release(outer, keep=kept)
        if notes is not None and not kept and ctx.version >= commands.SCRIPT_NOTIFY_VERSION:
            del notes[noted:]   # (an older release kept what its commands' handlers noted)
    return result


def _run(txn: WriteTxn, handler, ctx: Ctx, op) -> object:
    used_before = txn.used_bytes()
    if type(op) in _NEEDS_SAVEPOINT or (type(op) is pb.Eval and scripting.needs_savepoint(txn, op)):
        with txn.savepoint() as sp:
            result = handler(ctx, op)
            refused = within_quota(txn, ctx, op, result, used_before)
            if refused is not None:
                sp.rollback()
        return result if refused is None else refused
    txn.begin_undo()
    try:
        result = handler(ctx, op)
    except BaseException:
        txn.end_undo(rollback=True)
        raise
    refused = within_quota(txn, ctx, op, result, used_before)
    txn.end_undo(rollback=refused is not None)
    return result if refused is None else refused


def run_in_undo_scope(txn: WriteTxn, handler, ctx: Ctx, op) -> object:
    """`_run`'s undo-scope path for a write run inside a scope its caller opened and closes
    (the leader's trial of a script for its effects, node/scripting/effects.py)."""
    used_before = txn.used_bytes()
    result = handler(ctx, op)
    refused = within_quota(txn, ctx, op, result, used_before)
    return result if refused is None else refused


def within_quota(txn: WriteTxn, ctx: Ctx, op, result: object, used_before: int) -> CommandError | None:
    """The error that undoes a command's writes (its own, or OOM), or None to keep them.

    A write past maxmemory evicts the entry's candidates of its mode first (in the
    same undo scope or savepoint: refused, its evictions are undone with it).
    """
    if failed(result):
        return result
    if txn.used_bytes() > used_before and txn.would_exceed(0):
        room = ctx.room
        if room is None or ctx.eviction == pb.EVICT_NEVER or not room.make_room(ctx, op):
            return out_of_memory()
    return None


#: Commands that flush whole databases (or nest commands that may, or write the meta table:
#: scripts and function libraries): a rollback
#: needs a nested LMDB transaction; every other command only puts and deletes
#: records, which WriteTxn.undo_scope() can write back more cheaply.
_NEEDS_SAVEPOINT = (pb.FlushAll, pb.FlushDb, pb.SwapDb, pb.Transaction, pb.ScriptLoad, pb.ScriptFlush,
                    pb.FunctionLoad, pb.FunctionDelete, pb.FunctionFlush, pb.FunctionRestore)
# A script (pb.Eval) runs in an undo scope, each command it calls undone alone on error
# (WriteTxn.undo_mark), unless its code names a flush: then in a savepoint
# (node/commands/scripting.needs_savepoint).
#: Commands that only delete keys: they cannot fail or grow the data, so they run
#: without an undo scope (which would copy every element of a large container).
_ONLY_DELETE = (pb.Del, pb.DeleteExpired, pb.Evict)
