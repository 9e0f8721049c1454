"""SCRIPT and FUNCTION for the RESP front end: each subcommand becomes one Command run
through the session (SCRIPT LOAD, SCRIPT FLUSH, FUNCTION LOAD / DELETE / FLUSH / RESTORE are
log entries, so every replica stores the same scripts and libraries; SCRIPT EXISTS and
FUNCTION LIST / DUMP / STATS are reads at the connection's level). SCRIPT KILL and
FUNCTION KILL answer NOTBUSY: a script never outlives its instruction budget.
"""

from __future__ import annotations

from raftcache.node.errors import CommandError
from raftcache.node.frontends.resp_admin import check_subcommand
from raftcache.node.frontends.resp_args import cmd
from raftcache.node.frontends.resp_protocol import RespError, RespMap
from raftcache.proto import commands_pb2 as pb

NOTBUSY = "NOTBUSY No scripts in execution right now."


def _flush_mode(args) -> None:
    if len(args) > 3 or (len(args) == 3 and args[2].lower() not in (b"async", b"sync")):
        raise RespError("ERR SCRIPT FLUSH only support SYNC|ASYNC option" if args[0].lower() == b"script"
                        else "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")


async def _run(conn, command):
    result, _ = await conn.call(command)
    return result


async def script(conn, args):
    sub = check_subcommand("script", args)
    db = conn.session.db
    if sub == b"load":
        return await _run(conn, cmd(db, "script_load", body=args[2]))
    if sub == b"exists":
        return await _run(conn, cmd(db, "script_exists", shas=[a.decode("latin-1").lower() for a in args[2:]]))
    if sub == b"flush":
        _flush_mode(args)
        return await _run(conn, cmd(db, "script_flush"))
    if sub == b"kill":
        raise RespError(NOTBUSY)  # a script never outlives its instruction budget
    return [b"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", b"EXISTS <sha1> [<sha1> ...]",
            b"FLUSH [ASYNC|SYNC]", b"KILL", b"LOAD <script>", b"HELP"]


async def function(conn, args):
    sub = check_subcommand("function", args)
    db = conn.session.db
    if sub == b"load":
        replace = False
        for option in args[2:-1]:   # Redis's loop: any number of REPLACE, nothing else
            if option.lower() != b"replace":
                raise RespError(f"ERR Unknown option given: {option.decode(errors='replace')}")
            replace = True
        return await _run(conn, cmd(db, "function_load", code=args[-1], replace=replace))
    if sub == b"delete":
        return await _run(conn, cmd(db, "function_delete", library=args[2].decode("utf-8", "replace")))
    if sub == b"flush":
        _flush_mode(args)
        return await _run(conn, cmd(db, "function_flush"))
    if sub == b"restore":
        if len(args) > 4:
            raise RespError("ERR wrong number of arguments for 'function|restore' command")
        policy = args[3].decode("latin-1").upper() if len(args) == 4 else "APPEND"
        return await _run(conn, cmd(db, "function_restore", payload=args[2], policy=policy))
    if sub in (b"dump", b"stats"):
        result = await _run(conn, cmd(db, "function_list", what=sub.decode()))
        if sub == b"stats" and isinstance(result, list):
            # {running_script: nil, engines: {LUA: {libraries_count, functions_count}}}
            engines = result[3]
            return RespMap([(result[0], result[1]),
                            (result[2], RespMap([(engines[0], RespMap(zip(engines[1][::2], engines[1][1::2])))]))])
        return result
    if sub == b"list":
        op = pb.FunctionList(what="list")
        i = 2
        while i < len(args):
            opt = args[i].lower()
            if opt == b"withcode" and not op.with_code:
                op.with_code = True
                i += 1
            elif opt == b"libraryname" and i + 1 < len(args) and not op.pattern:
                op.pattern = args[i + 1]
                i += 2
            else:
                raise RespError(f"ERR Unknown argument {args[i].decode(errors='replace')}")
        command = pb.Command(db=db)
        command.function_list.CopyFrom(op)
        result = await _run(conn, command)
        if isinstance(result, CommandError):
            return result
        return [_library_map(entry) for entry in result]
    if sub == b"kill":
        raise RespError(NOTBUSY)
    return [b"FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", b"LOAD [REPLACE] <library code>",
            b"DELETE <library name>", b"LIST [LIBRARYNAME <pattern>] [WITHCODE]", b"FLUSH [ASYNC|SYNC]", b"DUMP",
            b"RESTORE <serialized payload> [FLUSH|APPEND|REPLACE]", b"STATS", b"KILL", b"HELP"]


def _library_map(entry: list) -> RespMap:
    fields = list(zip(entry[::2], entry[1::2]))
    out = []
    for name, value in fields:
        if name == b"functions":
            value = [RespMap(zip(fn[::2], fn[1::2])) for fn in value]
        out.append((name, value))
    return RespMap(out)


#: The commands resp.py runs through this module.
HANDLERS = {"script": script, "function": function}
