"""CLIENT and its subcommands on the Redis front end (SETNAME, GETNAME, ID, INFO, LIST, SETINFO,
CONSISTENCY, KILL, UNBLOCK, REPLY, PAUSE/UNPAUSE, NO-EVICT/NO-TOUCH; the tracking ones are
resp_tracking.py's), and the client line CLIENT INFO / CLIENT LIST print, which AUTH and the
ACL LOG also record (`client_info_line`).

A handler as in resp_admin.py: `async def handler(conn, args) -> reply value`; the state read
and changed lives on the Connection (resp.py), its Session and the RespServer.
"""

from __future__ import annotations

import time

from raftcache.node.commands import OK
from raftcache.node.consistency import ReadConsistency, ReadLevelError
from raftcache.node.frontends import resp_blocking, resp_pause, resp_tracking
from raftcache.node.frontends.resp_admin import check_subcommand, valid_name
from raftcache.node.frontends.resp_args import to_int
from raftcache.node.frontends.resp_protocol import NO_REPLY, RespError, Verbatim
from raftcache.readlevel import USAGE


def client_flags(c) -> str:
    """Redis's client flags, in Redis's order: O monitor, P subscriber, x in MULTI, b blocked,
    t tracking; N none."""
    subs = c.session.subscriptions
    flags = "".join(letter for letter, on in (
        ("O", c.monitoring), ("P", subs is not None and subs.active), ("x", c.multi is not None),
        ("b", c.unblocked is not None), ("t", c.session.tracking is not None)) if on)
    return flags or "N"


def client_type(c) -> str:
    """CLIENT LIST/KILL TYPE: pubsub for a subscriber, else normal (a monitor is a normal client,
    as in Redis; there are no replica or master connections on the Redis port)."""
    subs = c.session.subscriptions
    return "pubsub" if subs is not None and subs.active else "normal"


def client_info_line(c) -> str:
    now = time.time()
    omem = c.output_bytes()
    subs = c.session.subscriptions
    sub, psub, ssub = ((len(subs.channels), len(subs.patterns), len(subs.shard_channels)) if subs is not None
                       else (0, 0, 0))
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={c.session.name} age={int(now - c.session.created_s)} "
        f"idle={int(time.monotonic() - c.session.last_s)} flags={client_flags(c)} db={c.session.db} "
        f"sub={sub} psub={psub} ssub={ssub} multi={len(c.multi) if c.multi is not None else -1} "
        f"qbuf={c.parser.pending_bytes} "
        f"qbuf-free=0 argv-mem={c.parser.unfinished_bytes - c.parser.pending_bytes} multi-mem=0 rbs=0 rbp=0 "
        f"obl=0 oll=0 omem={omem} tot-mem={c.memory_bytes()} events=r "
        f"cmd={c.last_cmd} user={c.session.user or ''} redir=-1 resp={c.proto} lib-name={c.lib['lib-name']} "
        f"lib-ver={c.lib['lib-ver']} consistency={consistency_text(c)}"
    )


def consistency_text(conn) -> str:
    if conn.session.consistency is None:
        status_default = getattr(getattr(conn.service, "config", None), "service", None)
        return f"default({status_default.default_read if status_default else 'linearizable'})"
    return str(conn.session.consistency)


async def client(conn, args):
    sub = check_subcommand("client", args)
    n = len(args)
    if sub.decode() in resp_tracking.SUBCOMMANDS:
        return resp_tracking.client(conn, sub, args)
    if sub == b"setname" and n == 3:
        if not valid_name(args[2]):
            raise RespError("ERR Client names cannot contain spaces, newlines or special characters.")
        conn.session.name = args[2].decode()
        return OK
    if sub == b"getname" and n == 2:
        return conn.session.name.encode() if conn.session.name else None
    if sub == b"id" and n == 2:
        return conn.id
    if sub == b"info" and n == 2:
        return Verbatim(client_info_line(conn).encode() + b"\n")
    if sub == b"list":
        return Verbatim("".join(client_info_line(c) + "\n" for c in _client_list(conn, args)).encode())
    if sub == b"setinfo" and n == 4:
        attr = args[2].lower().decode(errors="replace")
        if attr not in ("lib-name", "lib-ver"):
            raise RespError(f"ERR Unrecognized option '{args[2].decode(errors='replace')}'")
        if not valid_name(args[3]):
            raise RespError(f"ERR {attr} cannot contain spaces, newlines or special characters.")
        conn.lib[attr] = args[3].decode()
        return OK
    if sub == b"consistency":
        return _client_consistency(conn, args)
    if sub in (b"no-evict", b"no-touch") and n == 3:
        return OK
    if sub == b"kill":
        return _client_kill(conn, args)
    if sub == b"unblock" and n <= 4:
        mode = args[3].lower() if n == 4 else b"timeout"
        if mode not in (b"timeout", b"error"):
            raise RespError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        target = conn.server.connections.get(to_int(args[2]))
        return int(target is not None and resp_blocking.unblock(target, mode.decode()))
    if sub == b"reply" and n == 3:
        return _client_reply(conn, args[2].lower())
    if sub == b"pause":
        resp_pause.client_pause(conn.server.pause, args)
        return OK
    if sub == b"unpause":
        conn.server.pause.unpause()
        return OK
    if sub == b"help":
        return [b"CLIENT <subcommand> [<arg> ...]",
                b"CONSISTENCY linearizable|lease|bounded:<ms>|any|min_index:<n>|default",
                b"GETNAME", b"ID", b"INFO", b"KILL", b"LIST", b"SETINFO", b"SETNAME <name>"]
    raise RespError("ERR syntax error")


def _client_list(conn, args) -> list:
    """CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]] (Redis 7: either filter)."""
    conns = list(conn.server.connections.values())
    if len(args) == 2:
        return conns
    option = args[2].upper()
    if option == b"TYPE" and len(args) == 4:
        kind = args[3].decode(errors="replace").lower()
        if kind not in _CLIENT_TYPES:
            raise RespError(f"ERR Unknown client type '{args[3].decode(errors='replace')}'")
        return [c for c in conns if client_type(c) == kind]
    if option == b"ID" and len(args) >= 4:
        wanted = set()
        for a in args[3:]:
            try:
                wanted.add(to_int(a))
            except RespError:
                raise RespError("ERR Invalid client ID") from None
        return [c for c in conns if c.id in wanted]
    raise RespError("ERR syntax error")


def _client_consistency(conn, args):
    """CLIENT CONSISTENCY [<level>]: show or set the connection's read level (any spelling of
    raftcache/readlevel.py: `bounded:100`, `bounded 100`, `default`, …)."""

    if len(args) == 2:
        return consistency_text(conn).encode()
    if len(args) > 4:
        raise RespError(f"ERR syntax error: CLIENT CONSISTENCY <level>, the level one of {USAGE}")
    try:
        level = ReadConsistency.parse(b" ".join(args[2:]).decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise RespError(f"ERR {e if isinstance(e, ReadLevelError) else 'unknown read level'}") from None
    conn.session.consistency = level if level.level else None
    return OK


#: CLIENT KILL TYPE names (Redis's getClientTypeByName); every client here is a normal one.
_CLIENT_TYPES = {"normal", "master", "replica", "slave", "pubsub"}


def _kill_filter(conn, args):
    """CLIENT KILL's filters (Redis 7.2, and MAXAGE of 7.4) as a predicate over connections,
    and whether the calling connection is spared (SKIPME, default yes)."""
    tests, skipme, i = [], True, 2
    while i < len(args):
        if i + 1 >= len(args):
            raise RespError("ERR syntax error")
        field, value = args[i].upper(), args[i + 1]
        text = value.decode(errors="replace")
        if field == b"ID":
            try:
                wanted = to_int(value)
            except RespError:
                wanted = 0
            if wanted < 1:
                raise RespError("ERR client-id should be greater than 0")
            tests.append(lambda c, wanted=wanted: c.id == wanted)
        elif field == b"MAXAGE":
            try:
                age = to_int(value)
            except RespError:
                raise RespError("ERR maxage is not an integer or out of range") from None
            if age <= 0:
                raise RespError("ERR maxage should be greater than 0")
            tests.append(lambda c, age=age: int(time.time() - c.session.created_s) >= age)
        elif field == b"TYPE":
            if text.lower() not in _CLIENT_TYPES:
                raise RespError(f"ERR Unknown client type '{text}'")
            kind = "replica" if text.lower() == "slave" else text.lower()
            tests.append(lambda c, kind=kind: client_type(c) == kind)
        elif field == b"ADDR":
            tests.append(lambda c, text=text: c.addr == text)
        elif field == b"LADDR":
            tests.append(lambda c, text=text: c.laddr == text)
        elif field == b"USER":
            if text not in conn.service.identity.users:
                raise RespError(f"ERR No such user '{text}'")
            tests.append(lambda c, text=text: _user(c) == text)
        elif field == b"SKIPME":
            if text.lower() not in ("yes", "no"):
                raise RespError("ERR syntax error")
            skipme = text.lower() == "yes"
        else:
            raise RespError("ERR syntax error")
        i += 2
    return (lambda c: all(test(c) for test in tests)), skipme


def _user(c) -> str:
    """The ACL user a connection acts as (node/service/identity.py); "" before it authenticates."""
    return c.session.user or ""


def _client_kill(conn, args):
    """CLIENT KILL addr (old form: OK, or "No such client"; may kill the caller) or
    CLIENT KILL <filter> <value> ... (the number killed). The caller, when killed,
    is closed after this reply."""
    if len(args) == 3:
        matches, skipme = (lambda c: c.addr == args[2].decode(errors="replace")), False
    else:
        matches, skipme = _kill_filter(conn, args)
    killed = [c for c in list(conn.server.connections.values()) if matches(c) and not (skipme and c is conn)]
    for c in killed:
        if c is conn:
            conn.closing = True
        else:
            c.close()
    if len(args) == 3:
        if not killed:
            raise RespError("ERR No such client")
        return OK
    return len(killed)


def _client_reply(conn, mode: bytes):
    """CLIENT REPLY ON|OFF|SKIP, as Redis's client flags: OFF drops every reply (its own
    too) until ON, SKIP the next command's (resp.py Connection.mute)."""
    if mode == b"on":
        conn.reply_off = conn.reply_skip_next = False
        return OK
    if mode == b"off":
        conn.reply_off = True
        return NO_REPLY
    if mode == b"skip":
        conn.reply_skip_next = not conn.reply_off
        return NO_REPLY
    raise RespError("ERR syntax error")


HANDLERS = {"client": client}
