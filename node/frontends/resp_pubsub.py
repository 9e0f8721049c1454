"""Pub/Sub over RESP: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH,
SPUBLISH and PUBSUB, with Redis's replies on RESP2 (subscriber mode: only these, PING,
QUIT and RESET) and RESP3 (push frames; any command on the same connection).

PUBLISH is a write (through the log, group-committed like any other): every
node delivers the message to its own subscribers (node/service/pubsub.py);
its reply counts the subscribers of the node that answers (the session runner
counts them). The subscription
handlers return their already encoded frames (one per channel, as Redis).
"""

from __future__ import annotations

from raftcache.node.frontends.resp_args import cmd, register
from raftcache.node.frontends.resp_protocol import Push, RespError, encode

#: What a RESP2 connection in subscriber mode may still run.
SUBSCRIBER_COMMANDS = frozenset(("subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
                                 "sunsubscribe", "ping", "quit", "reset"))
#: Commands whose replies Redis 7.2+ sends as pushes (in RESP2 too): CLIENT REPLY OFF/SKIP do not silence them.
PUSH_REPLY_COMMANDS = frozenset(("subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
                                 "sunsubscribe"))
_SUBCOMMANDS = {"channels": -2, "numsub": -2, "numpat": 2, "shardchannels": -2, "shardnumsub": -2, "help": 2}


def refused_in_subscriber_mode(name: str) -> str:
    return (f"ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            f"are allowed in this context")


def _subscribe(kind: bytes, add: str, sharded: bool = False):
    async def handler(conn, args) -> bytes:
        subs = conn.subscriptions()
        hub = conn.service.pubsub
        frames = []
        for name in args[1:]:
            getattr(hub, add)(subs, name)
            count = len(subs.shard_channels) if sharded else subs.count
            frames.append(encode(Push([kind, name, count]), conn.proto))
        return b"".join(frames)
    return handler


def _unsubscribe(kind: bytes, remove: str, mine: str, sharded: bool = False):
    async def handler(conn, args) -> bytes:
        subs = conn.subscriptions()
        hub = conn.service.pubsub
        names = args[1:] or sorted(getattr(subs, mine))
        if not names:
            return encode(Push([kind, None, len(subs.shard_channels) if sharded else subs.count]), conn.proto)
        frames = []
        for name in names:
            getattr(hub, remove)(subs, name)
            count = len(subs.shard_channels) if sharded else subs.count
            frames.append(encode(Push([kind, name, count]), conn.proto))
        return b"".join(frames)
    return handler


async def pubsub(conn, args) -> bytes:
    sub = args[1].lower().decode(errors="replace")
    arity = _SUBCOMMANDS.get(sub)
    if arity is None:
        raise RespError(f"ERR unknown subcommand '{args[1].decode(errors='replace')[:128]}'. Try PUBSUB HELP.")
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise RespError(f"ERR wrong number of arguments for 'pubsub|{sub}' command")
    hub = conn.service.pubsub
    if sub in ("channels", "shardchannels"):
        if len(args) > 3:
            raise RespError(f"ERR wrong number of arguments for 'pubsub|{sub}' command")
        reply = hub.channels(args[2] if len(args) == 3 else None, sharded=sub == "shardchannels")
    elif sub in ("numsub", "shardnumsub"):
        reply = hub.numsub(args[2:], sharded=sub == "shardnumsub")
    elif sub == "numpat":
        reply = hub.numpat()
    else:
        reply = [b"PUBSUB <subcommand> [<arg> ...]: CHANNELS [<pattern>], NUMSUB [<channel> ...], NUMPAT, "
                 b"SHARDCHANNELS [<pattern>], SHARDNUMSUB [<shardchannel> ...] (counts are this node's)"]
    return encode(reply, conn.proto)


def _build_publish(sharded: bool):
    def build(args, db):
        return cmd(0, "publish", channel=args[1], message=args[2], sharded=sharded)
    return build


HANDLERS = {
    "subscribe": _subscribe(b"subscribe", "subscribe"),
    "psubscribe": _subscribe(b"psubscribe", "psubscribe"),
    "ssubscribe": _subscribe(b"ssubscribe", "ssubscribe", sharded=True),
    "unsubscribe": _unsubscribe(b"unsubscribe", "unsubscribe", "channels"),
    "punsubscribe": _unsubscribe(b"punsubscribe", "punsubscribe", "patterns"),
    "sunsubscribe": _unsubscribe(b"sunsubscribe", "sunsubscribe", "shard_channels", sharded=True),
    "pubsub": pubsub,
}

for _name, _arity in (("subscribe", -2), ("psubscribe", -2), ("ssubscribe", -2), ("unsubscribe", -1),
                      ("punsubscribe", -1), ("sunsubscribe", -1)):
    # shard channels are keys (Redis's key specs): cluster clients route SSUBSCRIBE by them
    register(_name, _arity, "pubsub noscript loading stale", keys=(1, -1, 1) if _name[0] == "s" and _name != "subscribe"
             else (0, 0, 0), group="pubsub")
register("pubsub", -2, "pubsub loading stale", keys=(0, 0, 0), group="pubsub")
register("publish", 3, "pubsub loading stale fast write", build=_build_publish(False), keys=(0, 0, 0),
         group="pubsub")
register("spublish", 3, "pubsub loading stale fast write", build=_build_publish(True), keys=(1, 1, 1),
         group="pubsub")
