"""Which rules a script's run follows: the log semantics version's, and its caller's ACL.

A script applied from a log entry must behave on every replica as on the oldest
release that applies that entry, so a run follows its entry's semantics
version (`rules_version`, `applied_before`); a script served as a read follows
the newest (`serving_read`). Every command it runs must pass the ACL rules of
the user who sent it, as the log's ACL has them at that entry (`caller`): the
same rules on every replica. Used by the engine (node/scripting/engine.py),
scripts.py, functions.py and the package's dispatch (__init__.py). Must not touch: the clock, randomness, Raft.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands import acl
from raftcache.node.commands.acl_store import stored_user


def caller(ctx, op) -> acl.User | None:
    """The user whose rules every command a script of `op` runs must pass (Eval.user, log
    version 17), as the log's ACL has it at this entry: the same rules on every replica.
    None: not checked (no user, one allowed everything, or the default user the log never
    changed, which is Redis's: everything). A user deleted since the script was sent may run
    nothing."""
    if not op.user:
        return None
    user = stored_user(ctx.txn, op.user)
    if user is None:
        return None if op.user == "default" else acl.new_user(op.user)
    return None if user.unrestricted else user


#: The log semantics version whose rules a run follows: its entry's at apply, the newest off the log.
rules_version = commands.rules_version


def serving_read(ctx) -> bool:
    """The script runs as a read this node serves, not as part of an entry applied from the
    log (the same on every replica): a read's context has no log index."""
    return not ctx.index


def applied_before(ctx, version: int) -> bool:
    """The script is applied from a log entry of a semantics version older than `version`."""
    return rules_version(ctx) < version
