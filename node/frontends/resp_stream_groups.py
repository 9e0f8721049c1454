"""RESP parsers of the stream consumer-group commands and XINFO: XACK, XPENDING,
XCLAIM, XAUTOCLAIM, XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER,
HELP) and XINFO (STREAM [FULL [COUNT]], GROUPS, CONSUMERS, HELP), with their
reply shapes.

Registers into resp_args.TABLE; the handlers live in node/commands/stream_groups.py
and streams.py (XINFO). Arguments are checked in Redis 7.2's order with its texts.
"""

from __future__ import annotations

from raftcache.node.commands import Status
from raftcache.node.frontends.resp_args import SYNTAX, cmd, register, subcommand_syntax_error, to_int
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError, RespMap
from raftcache.node.frontends.resp_streams import LLONG_MAX, U64_MAX, entries_reply, int_arg, interval, pb_id, parse_id
from raftcache.proto import commands_pb2 as pb

#: XGROUP and XINFO subcommands and their Redis arity (COMMAND INFO lists these).
SUBCOMMANDS = {
    "xgroup": {"create": -5, "setid": -5, "destroy": 4, "createconsumer": 5, "delconsumer": 5, "help": 2},
    "xinfo": {"stream": -3, "groups": 3, "consumers": 4, "help": 2},
}
_HELP = {
    "xgroup": ["XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
               "CREATE <key> <groupname> <id|$> [option]",
               "    Create a new consumer group. Options are:",
               "    * MKSTREAM",
               "      Create the empty stream if it does not exist.",
               "    * ENTRIESREAD entries_read",
               "      Set the group's entries_read counter (internal use).",
               "CREATECONSUMER <key> <groupname> <consumer>",
               "    Create a new consumer in the specified group.",
               "DELCONSUMER <key> <groupname> <consumer>",
               "    Remove the specified consumer.",
               "DESTROY <key> <groupname>",
               "    Remove the specified group.",
               "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
               "    Set the current group ID and entries_read counter.",
               "HELP", "    Print this help."],
    "xinfo": ["XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
              "CONSUMERS <key> <groupname>",
              "    Show consumers of <groupname>.",
              "GROUPS <key>",
              "    Show the stream consumer groups.",
              "STREAM <key> [FULL [COUNT <count>]",
              "    Show information about the stream.",
              "HELP", "    Print this help."],
}



def _xack(args, db):
    return cmd(db, "xack", key=args[1], group=args[2], ids=[pb_id(parse_id(a, strict=True)[0]) for a in args[3:]])


def _xpending(args, db):
    n = len(args)
    if n != 3 and not 6 <= n <= 9:
        raise RespError(SYNTAX)
    command = cmd(db, "xpending", key=args[1], group=args[2])
    op = command.xpending
    if n >= 6:
        start = 3
        if args[3].lower() == b"idle":
            op.min_idle = int_arg(args[4])
            if n < 8:
                raise RespError(SYNTAX)
            start = 5
        op.extended = True
        op.count = max(int_arg(args[start + 2]), 0)
        op.start.CopyFrom(pb_id(interval(args[start], 0, start=True)))
        op.end.CopyFrom(pb_id(interval(args[start + 1], U64_MAX, start=False)))
        if start + 3 < n:
            op.consumer = args[start + 3]
    return command


def _xclaim(args, db):
    command = cmd(db, "xclaim", key=args[1], group=args[2], consumer=args[3])
    op = command.xclaim
    op.min_idle = int_arg(args[4], "ERR Invalid min-idle-time argument for XCLAIM")
    j = 5
    while j < len(args):
        try:
            op.ids.append(pb_id(parse_id(args[j], strict=True)[0]))
        except RespError:
            break
        j += 1
    while j < len(args):
        opt, more = args[j].lower(), len(args) - 1 - j
        if opt == b"force":
            op.force = True
        elif opt == b"justid":
            op.justid = True
        elif opt in (b"idle", b"time", b"retrycount") and more:
            name = {b"idle": "IDLE", b"time": "TIME", b"retrycount": "RETRYCOUNT"}[opt]
            value = int_arg(args[j + 1], f"ERR Invalid {name} option argument for XCLAIM")
            setattr(op, {b"idle": "idle", b"time": "time", b"retrycount": "retry_count"}[opt], value)
            j += 1
        elif opt == b"lastid" and more:
            op.last_id.CopyFrom(pb_id(parse_id(args[j + 1], strict=True)[0]))
            j += 1
        else:
            raise RespError(f"ERR Unrecognized XCLAIM option '{args[j].decode(errors='replace')}'")
        j += 1
    return command


def _xautoclaim(args, db):
    command = cmd(db, "xautoclaim", key=args[1], group=args[2], consumer=args[3], count=100)
    op = command.xautoclaim
    op.min_idle = int_arg(args[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")
    op.start.CopyFrom(pb_id(interval(args[5], 0, start=True)))
    j = 6
    while j < len(args):
        opt = args[j].lower()
        if opt == b"count" and j + 1 < len(args):
            try:
                count = to_int(args[j + 1])
            except RespError:
                count = 0
            if not 1 <= count <= LLONG_MAX // 16:
                raise RespError("ERR COUNT must be > 0")
            op.count = count
            j += 1
        elif opt == b"justid":
            op.justid = True
        else:
            raise RespError(SYNTAX)
        j += 1
    return command


def _subcommand(container: str, args) -> str:
    sub = args[1].decode(errors="replace").lower()
    arity = SUBCOMMANDS[container].get(sub)
    if arity is None:
        raise RespError(f"ERR unknown subcommand '{args[1].decode(errors='replace')[:128]}'. "
                        f"Try {container.upper()} HELP.")
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise RespError(f"ERR wrong number of arguments for '{container}|{sub}' command")
    return sub


_XGROUP_KINDS = {"create": pb.XGROUP_CREATE, "setid": pb.XGROUP_SETID, "destroy": pb.XGROUP_DESTROY,
                 "createconsumer": pb.XGROUP_CREATECONSUMER, "delconsumer": pb.XGROUP_DELCONSUMER}


def _xgroup(args, db):
    sub = _subcommand("xgroup", args)
    if sub == "help":
        return None
    command = cmd(db, "xgroup", key=args[2], group=args[3], kind=_XGROUP_KINDS[sub])
    op = command.xgroup
    i = 5
    while i < len(args) and sub in ("create", "setid"):
        opt = args[i].lower()
        if sub == "create" and opt == b"mkstream":
            op.mkstream = True
            i += 1
        elif opt == b"entriesread" and i + 1 < len(args):
            read = int_arg(args[i + 1])
            if read < 0 and read != -1:
                raise RespError("ERR value for ENTRIESREAD must be positive or -1")
            op.entries_read = read
            i += 2
        else:
            raise subcommand_syntax_error("xgroup", args[1])
    if sub in ("create", "setid"):
        if (sub == "create" and not 5 <= len(args) <= 8) or (sub == "setid" and len(args) not in (5, 7)):
            raise subcommand_syntax_error("xgroup", args[1])
        if args[4] == b"$":
            op.last = True
        else:
            op.id.CopyFrom(pb_id(parse_id(args[4], strict=sub == "create")[0]))
    elif sub in ("createconsumer", "delconsumer"):
        op.consumer = args[4]
    return command


def _xinfo(args, db):
    sub = _subcommand("xinfo", args)
    if sub == "help":
        return None
    command = cmd(db, "xinfo", key=args[2], kind={"stream": pb.XINFO_STREAM, "groups": pb.XINFO_GROUPS,
                                                  "consumers": pb.XINFO_CONSUMERS}[sub])
    op = command.xinfo
    if sub == "consumers":
        op.group = args[3]
    elif sub == "stream":
        options = args[3:]
        if options:
            if len(options) not in (1, 3) or options[0].lower() != b"full" or \
                    (len(options) == 3 and options[1].lower() != b"count"):
                raise subcommand_syntax_error("xinfo", args[1])
            op.full = True
            op.count = 10
            if len(options) == 3:
                count = int_arg(options[2])
                op.count = count if count >= 0 else 10
    return command


async def help_reply(conn, args):
    """XGROUP HELP / XINFO HELP (their builders give no command for it)."""
    return [Status(line) for line in _HELP[args[0].decode().lower()]]



# ---------------------------------------------------------------- reply shapes


def _claim_reply(result, proto, command=None):
    if isinstance(result, list) and not command.xclaim.justid:
        return entries_reply(result)
    return result


def _autoclaim_reply(result, proto, command=None):
    if isinstance(result, list) and not command.xautoclaim.justid:
        return [result[0], entries_reply(result[1]), result[2]]
    return result


def _pending_reply(result, proto, command=None):
    if isinstance(result, list) and not command.xpending.extended and result[3] is None:
        return result[:3] + [NULL_ARRAY]
    return result


def _map(flat: list) -> RespMap:
    return RespMap(zip(flat[0::2], flat[1::2]))


def _info_reply(result, proto, command=None):
    """XINFO's maps (flat lists from the handler), nested for STREAM FULL."""
    if not isinstance(result, list):
        return result
    op = command.xinfo
    if op.kind != pb.XINFO_STREAM:
        return [_map(item) for item in result]
    shaped = []
    for name, value in zip(result[0::2], result[1::2]):
        if name in (b"first-entry", b"last-entry") and value is not None:
            value = entries_reply([value])[0]
        elif name == b"entries":
            value = entries_reply(value)
        elif name == b"groups" and op.full:
            value = [_group_map(g) for g in value]
        shaped.append((name, value))
    return RespMap(shaped)


def _group_map(flat: list) -> RespMap:
    return RespMap((k, [_map(c) for c in v] if k == b"consumers" else v) for k, v in zip(flat[0::2], flat[1::2]))


# ---------------------------------------------------------------- the table

W, R = "write", "readonly"
register("xack", -4, f"{W} fast", _xack, group="stream")
register("xpending", -3, R, _xpending, _pending_reply, group="stream")
register("xclaim", -6, f"{W} fast", _xclaim, _claim_reply, group="stream")
register("xautoclaim", -6, f"{W} fast", _xautoclaim, _autoclaim_reply, group="stream")
register("xgroup", -2, W, _xgroup, keys=(0, 0, 0), group="stream")
register("xinfo", -2, R, _xinfo, _info_reply, keys=(0, 0, 0), group="stream")

#: XGROUP HELP and XINFO HELP: their builders give no command, the connection runs these.
LOCAL = {"xgroup": help_reply, "xinfo": help_reply}
