"""Redis Cluster on the Redis port: the slot check of every keyed command and the CLUSTER command.

In cluster mode (`service.cluster`, node/service/cluster.py) every member of a
shard serves that shard's slots: a follower serves reads at the connection's
read level and forwards writes to its leader, so no node answers -MOVED for a
slot its own shard owns. A command whose keys hash to one slot another shard
owns is answered `-MOVED slot host:port` (the owner's leader); keys in several
slots, `-CROSSSLOT` (a MULTI/EXEC transaction counts as one command, as in Redis
Cluster). CLUSTER SLOTS / SHARDS / NODES / … are shaped exactly as Redis 7
answers them, which is what redis-py's RedisCluster, `redis-cli -c` and
`redis-benchmark --cluster` parse. Without cluster mode CLUSTER answers Redis's
"cluster support disabled" and nothing else changes.

The front end (acl_catalog.py `slot_keys`) finds a command's keys. Must not touch
the keyspace or Raft.
"""

from __future__ import annotations

from raftcache import slots as slotmath
from raftcache.clustermap import redis_node_id, redis_shard_id
from raftcache.node.commands import OK
from raftcache.node.errors import CommandError
from raftcache.node.frontends.resp_args import cmd, to_int
from raftcache.node.frontends.resp_protocol import RespError, RespMap, Verbatim

CROSSSLOT = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
_UNSERVED = b"-CLUSTERDOWN Hash slot not served\r\n"
DISABLED = "ERR This instance has cluster support disabled"

#: CLUSTER subcommands -> Redis arity (counting CLUSTER and the subcommand).
SUBCOMMANDS = {"slots": 2, "shards": 2, "nodes": 2, "myid": 2, "myshardid": 2, "info": 2, "keyslot": 3,
               "countkeysinslot": 3, "getkeysinslot": 4, "help": 2}


# ---------------------------------------------------------------- the slot check

def refusal(view, keys: list[bytes]) -> bytes | None:
    """-MOVED / -CROSSSLOT / -CLUSTERDOWN for a command naming `keys`; None when this shard serves them."""
    if not keys:
        return None
    slot = slotmath.key_slot(keys[0])
    for key in keys[1:]:
        if slotmath.key_slot(key) != slot:
            return CROSSSLOT
    owner = view.owners[slot]
    if owner == view.shard:
        return None
    if owner == 0:
        return _UNSERVED
    return b"-MOVED %d %s\r\n" % (slot, view.address_of(owner).encode())


def serves(view, key: bytes) -> bool:
    """Whether this node's shard owns `key`'s slot and it is not moving (the GET fast path's check)."""
    slot = slotmath.key_slot(key)
    return view.owners[slot] == view.shard and not view.moving(slot)


def asked(view, keys: list[bytes]) -> bool:
    """After ASKING: whether the keys are of one slot this shard is importing (then it serves them)."""
    if not keys:
        return False
    slot = slotmath.key_slot(keys[0])
    return all(slotmath.key_slot(k) == slot for k in keys[1:]) and view.importing(slot)


# ---------------------------------------------------------------- CLUSTER

def _owned_ranges(view) -> list[tuple[int, int, int]]:
    """(first, last, shard) runs of the slot map, in slot order."""
    runs: list[list[int]] = []
    for slot, shard in enumerate(view.owners):
        if runs and runs[-1][2] == shard and runs[-1][1] == slot - 1:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot, shard])
    return [(a, b, s) for a, b, s in runs if s]


def _members(view, shard: int) -> list:
    """The shard's members as clients reach them, its leader first (Redis's master, then its replicas)."""
    leader = view.leader_of(shard)
    members = [leader] + [p for p in view.map.shard(shard).members if p.id != leader.id]
    return [view.client_peer(shard, p) for p in members]


def _slots(view) -> list:
    out = []
    for first, last, shard in _owned_ranges(view):
        out.append([first, last, *([p.host.encode(), p.port("redis"), redis_node_id(p.id).encode(), RespMap()]
                                   for p in _members(view, shard))])
    return out


def _nodes(view, me: str) -> bytes:
    ranges: dict[int, list[str]] = {}
    for first, last, shard in _owned_ranges(view):
        ranges.setdefault(shard, []).append(f"{first}-{last}" if first != last else str(first))
    lines = []
    for shard in view.map.shards:
        members = _members(view, shard.id)
        master = redis_node_id(members[0].id)
        epoch = view.claims[shard.id].epoch
        for i, peer in enumerate(members):
            flags = ("myself," if peer.id == me else "") + ("master" if i == 0 else "slave")
            fields = [redis_node_id(peer.id), f"{peer.host}:{peer.port('redis')}@{peer.port('raft')}", flags,
                      "-" if i == 0 else master, "0", "0", str(epoch), "connected"]
            lines.append(" ".join(fields + (ranges.get(shard.id, []) if i == 0 else [])) + "\n")
    return "".join(lines).encode()


def _shards(view, status: dict) -> list:
    out = []
    for shard in view.map.shards:
        slots = [n for a, b, s in _owned_ranges(view) if s == shard.id for n in (a, b)]
        nodes = []
        for i, peer in enumerate(_members(view, shard.id)):
            nodes.append(RespMap([
                (b"id", redis_node_id(peer.id).encode()), (b"port", peer.port("redis")),
                (b"ip", peer.host.encode()), (b"endpoint", peer.host.encode()),
                (b"role", b"master" if i == 0 else b"replica"),
                (b"replication-offset", status.get("applied_index", 0) if peer.id == status.get("id") else 0),
                (b"health", b"online"),
            ]))
        out.append(RespMap([(b"slots", slots), (b"nodes", nodes)]))
    return out


def _info(view) -> bytes:
    assigned = sum(1 for owner in view.owners if owner)
    fields = [
        ("cluster_state", "ok" if assigned == slotmath.SLOTS else "fail"),
        ("cluster_slots_assigned", assigned), ("cluster_slots_ok", assigned),
        ("cluster_slots_pfail", 0), ("cluster_slots_fail", 0),
        ("cluster_known_nodes", sum(len(s.members) for s in view.map.shards)),
        ("cluster_size", len(view.map.shards)),
        ("cluster_current_epoch", view.epoch), ("cluster_my_epoch", view.claims[view.shard].epoch),
        ("raftcache_shard", view.shard),
    ]
    return "".join(f"{k}:{v}\r\n" for k, v in fields).encode()


def _slot_arg(arg: bytes) -> int:
    try:
        slot = to_int(arg)
    except RespError:
        raise RespError("ERR Invalid slot") from None
    if not 0 <= slot < slotmath.SLOTS:
        raise RespError("ERR Invalid or out of range slot")
    return slot


async def _keys_in_slot(conn, slot: int, limit: int | None) -> list[bytes]:
    """This node's keys of database 0 in `slot`, by a SCAN of the keyspace (O(keys): there is no slot index)."""
    found: list[bytes] = []
    cursor = 0
    while True:
        result, _ = await conn.call(cmd(0, "scan", cursor=cursor, count=1000))
        if isinstance(result, CommandError):
            raise RespError(f"ERR {result.message}")
        cursor = int(result[0])
        found.extend(k for k in result[1] if slotmath.key_slot(k) == slot)
        if cursor == 0 or (limit is not None and len(found) >= limit):
            return found if limit is None else found[:limit]


_HELP = [
    b"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"COUNTKEYSINSLOT <slot>", b"    Return the number of keys in <slot>.",
    b"GETKEYSINSLOT <slot> <count>", b"    Return key names stored by this node in a slot.",
    b"INFO", b"    Return information about the cluster.",
    b"KEYSLOT <key>", b"    Return the hash slot for <key>.",
    b"MYID", b"    Return the node id.", b"MYSHARDID", b"    Return the node's shard id.",
    b"NODES", b"    Return cluster configuration seen by node.",
    b"SHARDS", b"    Return information about slot range mappings and the nodes associated with them.",
    b"SLOTS", b"    Return information about slots range mappings.",
    b"HELP", b"    Print this help.",
]


async def run(conn, sub: bytes, args: list[bytes], status: dict):
    """CLUSTER `sub` (already checked against SUBCOMMANDS) on a node in cluster mode."""
    view = conn.service.cluster
    if view is None:
        raise RespError(DISABLED)
    if sub == b"keyslot":
        return slotmath.key_slot(args[2])
    if sub == b"slots":
        return _slots(view)
    if sub == b"nodes":
        return Verbatim(_nodes(view, status.get("id", "")))
    if sub == b"shards":
        return _shards(view, status)
    if sub == b"myid":
        return redis_node_id(status.get("id", "")).encode()
    if sub == b"myshardid":
        return redis_shard_id(view.shard).encode()
    if sub == b"info":
        return Verbatim(_info(view))
    if sub == b"countkeysinslot":
        return len(await _keys_in_slot(conn, _slot_arg(args[2]), None))
    if sub == b"getkeysinslot":
        slot = _slot_arg(args[2])
        try:
            limit = to_int(args[3])
        except RespError:
            limit = -1
        if limit < 0:
            raise RespError("ERR Invalid number of keys")
        return await _keys_in_slot(conn, slot, limit) if limit else []
    return _HELP


async def asking(conn, args):
    """ASKING: the next command may name a key of a slot this shard is importing (docs/cluster-mode.md)."""
    if conn.service.cluster is None:
        raise RespError(DISABLED)
    conn.asking = True
    return OK
