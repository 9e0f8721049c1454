"""The ACL command of the Redis port: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT,
GENPASS, DRYRUN, LOG, LOAD, SAVE, HELP (Redis 7.2's replies and error texts).

Changes of users go through the log (AclSetUser, AclDelUser, AclLoad; the
service hashes passwords before proposing: node/service/service.py); a rule
is first checked here against this node's view of the user so that a bad
one gets Redis's error without a round trip. Reads (GETUSER, LIST, …) answer
from this node's view. ACL LOG is per node (node/service/identity.py).
"""

from __future__ import annotations

import os
import secrets
import time

from raftcache.node.commands import OK, acl
from raftcache.node.commands.acl_store import base_user
from raftcache.node.errors import CommandError
from raftcache.node.frontends import acl_catalog
from raftcache.node.frontends.resp_admin import check_subcommand
from raftcache.node.frontends.resp_protocol import RespError, RespMap
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.ops import aclfile
from raftcache.node.service.identity import dryrun_text
from raftcache.proto import commands_pb2 as pb

_NO_FILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the "
            "ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file "
            "set) in order to store users in the Redis configuration.")
_HELP = [b"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", b"CAT [<category>]",
         b"DELUSER <username> [<username> ...]", b"DRYRUN <username> <command> [<arg> ...]", b"GETUSER <username>",
         b"LIST", b"USERS", b"SETUSER <username> <attribs> ...", b"SAVE", b"LOAD", b"LOG [<count> | RESET]",
         b"GENPASS [<bits>]", b"WHOAMI", b"HELP"]


async def acl_command(conn, args):
    sub = check_subcommand("acl", args).decode()
    return await _SUBCOMMANDS[sub](conn, args)


async def _run(conn, command: pb.Command):
    result, _ = await conn.call(command)
    if isinstance(result, CommandError):
        raise RespError(f"ERR {result.message}")
    return result


async def _setuser(conn, args):
    try:
        name = acl.check_username(args[2])
        rules = acl.merge_selectors(args[3:])
        acl.apply_rules(base_user(name, conn.service.identity.users), rules, acl_catalog.known)
    except acl.AclError as e:
        raise RespError(f"ERR {e}") from None
    command = pb.Command()
    command.acl_set_user.name = name
    command.acl_set_user.rules.extend(rules)
    return await _run(conn, command)


async def _deluser(conn, args):
    command = pb.Command()
    command.acl_del_user.names.extend(a.decode("utf-8", "replace") for a in args[2:])
    return await _run(conn, command)


async def _getuser(conn, args):
    user = conn.service.identity.users.get(args[2].decode("utf-8", "replace"))
    if user is None:
        return None
    pairs = acl.getuser_reply(user)
    return RespMap((k, [RespMap(s) for s in v] if k == b"selectors" else v) for k, v in pairs)


async def _list(conn, args):
    users = conn.service.identity.users
    return [users[name].describe() for name in sorted(users)]


async def _users(conn, args):
    return [name.encode() for name in sorted(conn.service.identity.users)]


async def _whoami(conn, args):
    return (conn.session.user or "").encode()


async def _cat(conn, args):
    if len(args) == 2:
        return [c.encode() for c in acl.CATEGORIES]
    if len(args) > 3:
        raise RespError("ERR wrong number of arguments for 'acl|cat' command")
    category = args[2].decode("utf-8", "replace").lower()
    if category not in acl.CATEGORIES:
        raise RespError(f"ERR Unknown category '{args[2].decode('utf-8', 'replace')}'")
    return [n.encode() for n in acl_catalog.in_category(category)]


async def _genpass(conn, args):
    bits = 256
    if len(args) == 3:
        try:
            bits = int(args[2])
        except ValueError:
            bits = 0
        if not 0 < bits <= 4096:
            raise RespError("ERR ACL GENPASS argument must be the number of bits for the output password, a "
                            "positive number up to 4096")
    elif len(args) > 3:
        raise RespError("ERR wrong number of arguments for 'acl|genpass' command")
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars].encode()


async def _dryrun(conn, args):
    name = args[2].decode("utf-8", "replace")
    user = conn.service.identity.users.get(name)
    if user is None:
        raise RespError(f"ERR User '{name}' not found")
    cmd_args = args[3:]
    spec = TABLE.get(cmd_args[0].lower())
    if spec is None:
        raise RespError(f"ERR Command '{cmd_args[0].decode('utf-8', 'replace')}' not found")
    if (spec.arity > 0 and len(cmd_args) != spec.arity) or len(cmd_args) < -spec.arity:
        raise RespError(f"ERR wrong number of arguments for '{spec.name}' command")
    command_name, parent = acl_catalog.resp_name(spec, cmd_args)
    denial = acl.check(user, command_name, acl_catalog.categories(command_name),
                       acl_catalog.resp_keys(spec, cmd_args, conn.session.db), acl_catalog.resp_channels(spec, cmd_args),
                       parent=parent)
    return OK if denial is None else dryrun_text(denial).encode()


async def _log(conn, args):
    identity = conn.service.identity
    count = len(identity.log)
    if len(args) == 3:
        if args[2].lower() == b"reset":
            identity.log.clear()
            return OK
        try:
            count = int(args[2])
        except ValueError:
            count = -1
        if count < 0:
            raise RespError("ERR value is out of range, must be positive")
    elif len(args) > 3:
        raise RespError("ERR wrong number of arguments for 'acl|log' command")
    now = time.time()
    return [RespMap([
        (b"count", e.count), (b"reason", e.reason.encode()), (b"context", e.context.encode()),
        (b"object", e.object.encode()), (b"username", e.username.encode()),
        (b"age-seconds", round(now - e.created_s, 3)), (b"client-info", e.client_info.encode()),
        (b"entry-id", e.entry_id), (b"timestamp-created", int(e.created_s * 1000)),
        (b"timestamp-last-updated", int(e.updated_s * 1000)),
    ]) for e in identity.log[:count]]


def _aclfile(conn) -> str:
    path = conn.service.config.frontend.aclfile
    if not path:
        raise RespError(_NO_FILE)
    return path


async def _load(conn, args):
    try:
        command = aclfile.load_command(_aclfile(conn), acl_catalog.known)
    except aclfile.AclFileError as e:
        raise RespError(f"ERR {e}") from None
    return await _run(conn, command)


async def _save(conn, args):
    try:
        aclfile.save(_aclfile(conn), conn.service.identity.users)
    except OSError as e:
        raise RespError(f"ERR There was an error trying to save the ACLs. Please check the server logs for more "
                        f"information ({os.strerror(e.errno) if e.errno else e})") from None
    return OK


async def _help(conn, args):
    return _HELP


_SUBCOMMANDS = {
    "setuser": _setuser, "deluser": _deluser, "getuser": _getuser, "list": _list, "users": _users,
    "whoami": _whoami, "cat": _cat, "genpass": _genpass, "dryrun": _dryrun, "log": _log, "load": _load,
    "save": _save, "help": _help,
}
HANDLERS = {"acl": acl_command}
