"""The scripting commands of the RESP table: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL,
FCALL_RO (builders: each becomes one `eval` / `eval_ro` Command, so a write is one log
entry, forwarded to the leader like any write, and a read runs on the serving node at
the connection's read level); SCRIPT and FUNCTION are registered here and run by
resp_script_admin.py. An EVAL whose `#!lua flags=no-writes` shebang promises
no writes runs as a read. Nothing here runs a script: node/scripting/ does, at apply.
"""

from __future__ import annotations

from raftcache.node.commands import script_read_cache as read_cache
from raftcache.node.consistency import ReadConsistency
from raftcache.node.frontends.resp_args import cmd, register, to_int
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.proto import commands_pb2 as pb

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."


def _keys_and_args(args, first: int, bad_numkeys: str = "ERR value is not an integer or out of range"
                   ) -> tuple[list[bytes], list[bytes]]:
    try:
        numkeys = to_int(args[first])
    except RespError:
        raise RespError(bad_numkeys) from None
    if numkeys < 0:
        raise RespError("ERR Number of keys can't be negative")
    rest = args[first + 1:]
    if numkeys > len(rest):
        raise RespError("ERR Number of keys can't be greater than number of args")
    return list(rest[:numkeys]), list(rest[numkeys:])


def _no_writes(body: bytes) -> bool:
    """Whether an EVAL body's shebang declares `no-writes` (node/scripting/scripts.py reads it again)."""
    if not body.startswith(b"#!lua"):
        return False
    line = body.partition(b"\n")[0]
    return any(part.startswith(b"flags=") and b"no-writes" in part[6:].split(b",") for part in line.split())


def build_eval(read_only: bool, by_sha: bool):
    def build(args, db):
        keys, argv = _keys_and_args(args, 2)
        if by_sha and len(args[1]) != 40:
            raise RespError(NOSCRIPT)
        command = pb.Command(db=db)
        op = command.eval_ro if read_only or (not by_sha and _no_writes(args[1])) else command.eval
        if by_sha:
            op.sha = args[1].decode("latin-1").lower()
        else:
            op.body = args[1]
        op.keys.extend(keys)
        op.args.extend(argv)
        return command
    return build


_LOCAL = ReadConsistency("any")


def read_if_no_writes(command, session):
    """FCALL of a function this node knows as `no-writes` runs as FCALL_RO does: a read at the
    connection's level, no log entry. When the node cannot tell at once (it has not applied the
    connection's last write, the log is older than scripting), FCALL stays a write."""
    op = command.eval
    outcome = session.read_now(cmd(command.db, "function_list", what="flags", pattern=op.function.encode()), _LOCAL)
    if not isinstance(outcome, tuple) or not isinstance(outcome[0], list) or b"no-writes" not in outcome[0]:
        return command
    read = pb.Command(db=command.db)
    read.eval_ro.CopyFrom(op)
    return read


def carry_read_cached(command, session):
    """An EVALSHA this node sends as a write (or an EVALSHA_RO queued in MULTI, which the log
    applies), of a script it only knows from a read it ran (EVAL_RO:
    node/commands/script_read_cache.py), carries the script's body: every replica runs it (and
    an EVAL caches it). Not before the node applied the connection's last write (its own
    SCRIPT FLUSH must be seen)."""
    op = command.eval if command.HasField("eval") else command.eval_ro if command.HasField("eval_ro") else None
    if op is None or not op.sha or session.service.applied_index < session.last_write_index:
        return command
    body = read_cache.body(op.sha)
    if body is not None:
        op.body = body
        op.sha = ""
    return command


def build_fcall(read_only: bool):
    def build(args, db):
        keys, argv = _keys_and_args(args, 2, "ERR Bad number of keys provided")
        command = pb.Command(db=db)
        op = command.eval_ro if read_only else command.eval
        op.function = args[1].decode("utf-8", "replace")
        op.keys.extend(keys)
        op.args.extend(argv)
        return command
    return build


_EVAL_FLAGS = "noscript skip_monitor may_replicate no_mandatory_keys stale"
_EVAL_RO_FLAGS = "noscript skip_monitor no_mandatory_keys stale readonly"
register("eval", -3, _EVAL_FLAGS, build_eval(False, False), keys=(0, 0, 0), group="scripting")
register("evalsha", -3, _EVAL_FLAGS, build_eval(False, True), keys=(0, 0, 0), group="scripting")
register("eval_ro", -3, _EVAL_RO_FLAGS, build_eval(True, False), keys=(0, 0, 0), group="scripting")
register("evalsha_ro", -3, _EVAL_RO_FLAGS, build_eval(True, True), keys=(0, 0, 0), group="scripting")
register("fcall", -3, _EVAL_FLAGS, build_fcall(False), keys=(0, 0, 0), group="scripting")
register("fcall_ro", -3, _EVAL_RO_FLAGS, build_fcall(True), keys=(0, 0, 0), group="scripting")
register("script", -2, "noscript", None, keys=(0, 0, 0), group="scripting")
register("function", -2, "noscript", None, keys=(0, 0, 0), group="scripting")
