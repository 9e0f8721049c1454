"""RESP parsers of SORT, SORT_RO, DUMP and RESTORE (Redis 7's syntax and error texts).

Registers into resp_args.TABLE; the handlers live in node/commands/sort.py and
node/commands/dump_restore.py. SORT with STORE is the `sort_store` write, any
other SORT and SORT_RO the `sort` read. RESTORE's payload is decoded here
before anything is proposed: a payload that does not decode never reaches
the log (a few-byte stand-in that fails alike does, when the key may exist
and Redis would answer BUSYKEY first); apply decodes it again.
"""

from __future__ import annotations

from raftcache.node.commands import acl, dump_restore
from raftcache.node.frontends.resp_args import SYNTAX, cmd, register, to_int
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.proto import commands_pb2 as pb

#: RESTORE's payload check at the front end: apply checks the node's max value size.
_ANY_SIZE = 1 << 62


def _sort_builder(read_only: bool):
    def build(args, db):
        op = pb.Sort(key=args[1])
        i = 2
        while i < len(args):
            opt, left = args[i].upper(), len(args) - i - 1
            if opt == b"ASC":
                op.desc = False
            elif opt == b"DESC":
                op.desc = True
            elif opt == b"ALPHA":
                op.alpha = True
            elif opt == b"LIMIT" and left >= 2:
                op.limited, op.offset, op.count = True, to_int(args[i + 1]), to_int(args[i + 2])
                i += 2
            elif opt == b"STORE" and left >= 1 and not read_only:
                op.store = args[i + 1]
                i += 1
            elif opt == b"BY" and left >= 1:
                if b"*" in args[i + 1]:
                    op.by, op.no_sort = args[i + 1], False
                else:  # a pattern without * does not sort
                    op.ClearField("by")
                    op.no_sort = True
                i += 1
            elif opt == b"GET" and left >= 1:
                op.get.append(args[i + 1])
                i += 1
            else:
                raise RespError(SYNTAX)
            i += 1
        command = pb.Command(db=db)
        (command.sort_store if op.store else command.sort).CopyFrom(op)
        return command
    return build


def pattern_refusal(user: acl.User, args: list[bytes], categories: frozenset[str]) -> str | None:
    """Redis 7's rule for SORT / SORT_RO as sent (`args`): see patterns_refusal."""
    option = None
    for i in range(2, len(args) - 1):
        found = args[i].upper()
        if (found == b"BY" and b"*" in args[i + 1]) or found == b"GET":
            option = found.decode()
            break
    return patterns_refusal(user, args[0].decode(errors="replace").lower(), categories, option)


def op_pattern_option(op: pb.Sort) -> str | None:
    """The first option of a SORT op that reads keys by pattern: "BY" (a pattern holding `*`:
    without one it does not sort, as the Redis port's `BY nosort`), "GET", or None."""
    return "BY" if op.HasField("by") and b"*" in op.by else "GET" if op.get else None


def patterns_refusal(user: acl.User, name: str, categories: frozenset[str], option: str | None) -> str | None:
    """Redis 7's rule for SORT / SORT_RO (`name`): BY with a pattern and GET (`option`, the first
    of them given) read keys the command does not name, so they need a selector that allows the
    command on every key; the error's text when the user has none (None: allowed)."""
    if option is None or any(sel.all_keys and acl.command_allowed(sel, name, categories)
                             for sel in (user.root, *user.selectors)):
        return None
    return f"ERR {option} option of SORT denied due to insufficient ACL permissions."


def build_restore(args, db):
    op = pb.Restore(key=args[1], payload=args[3])
    idle = freq = False
    i = 4
    while i < len(args):
        opt, left = args[i].upper(), len(args) - i - 1
        if opt == b"REPLACE":
            op.replace = True
        elif opt == b"ABSTTL":
            op.absttl = True
        elif opt == b"IDLETIME" and left >= 1 and not freq:
            op.idle_s, idle = to_int(args[i + 1]), True
            i += 1
        elif opt == b"FREQ" and left >= 1 and not idle:
            op.freq, freq = to_int(args[i + 1]), True
            i += 1
        else:
            raise RespError(SYNTAX)
        i += 1
    if op.idle_s < 0 or not 0 <= op.freq <= 255:  # checked with the options, before the key
        raise RespError(f"ERR {dump_restore.check_options(op).message}")
    op.ttl_ms = to_int(args[2])
    checked = dump_restore.check(op.payload, _ANY_SIZE)
    if isinstance(checked, tuple):
        return pb.Command(db=db, restore=op)
    stand_in = None if op.replace else dump_restore.stand_in(checked)
    if stand_in is None:
        raise RespError(f"ERR {checked.message}")
    op.payload = stand_in  # Redis checks the key (BUSYKEY) and the TTL first: apply decides
    return pb.Command(db=db, restore=op)


register("sort", -2, "write denyoom movablekeys", _sort_builder(False), keys=(1, 1, 1))
register("sort_ro", -2, "readonly movablekeys", _sort_builder(True), keys=(1, 1, 1))
register("dump", 2, "readonly", lambda a, db: cmd(db, "dump", key=a[1]), keys=(1, 1, 1))
register("restore", -4, "write denyoom", build_restore, keys=(1, 1, 1))
