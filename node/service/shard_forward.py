"""Cluster mode: run a command on the shard that owns its key (the memcached port's forwarding).

memcached clients do not know slots, so the memcached port of any node of a
sharded cluster serves every key (docs/cluster-mode.md): a command whose key
another shard owns is sent to that shard's leader over Internal.Forward --
the RPC a follower forwards writes with (node/service/forwarding.py), checked
there as a client's request is -- and its outcome answered as if served here.
A write carries an identity from this node's forwarding lanes, so a retry
after a lost reply (a leader change in the other shard) is applied once; a
read is served by that leader at the connection's read level.

The owning shard and its leader come from this node's ClusterView
(node/service/cluster.py): up to one poll old, so when the named leader
answers NOT_LEADER or cannot be reached the next member is tried, until the
request timeout. A multi-key command whose keys span slots is not forwarded
(the local check answers CROSS_SLOT); memcached's multi-key `get` is one
command per key already, each routed on its own. Must not touch the keyspace
or Raft.
"""

from __future__ import annotations

import asyncio

from raftcache import slots as slotmath
from raftcache.commandkeys import command_keys
from raftcache.node.errors import NotLeaderError, UnavailableError

#: First pause between attempts on another shard (doubling up to _MAX_PAUSE_S).
_FIRST_PAUSE_S = 0.01
_MAX_PAUSE_S = 0.2


class ShardForwarder:
    """Sends commands for other shards' slots to those shards (see the module docstring)."""

    def __init__(self, view, service, forwarder, timeout_s: float):
        self._view = view                 # ClusterView: slot owners, shards' members and leaders
        self._service = service           # for its forwarding lanes (write identities)
        self._forwarder = forwarder       # GrpcForwarder over every other shard's members
        self._timeout_s = timeout_s

    def owner(self, command) -> int:
        """The other shard that must run `command`, else 0 (this shard's, keyless, or keys in
        several slots: the local checks answer those)."""
        keys = command_keys(command)
        if not keys:
            return 0
        slot = slotmath.key_slot(keys[0])
        if any(slotmath.key_slot(k) != slot for k in keys[1:]):
            return 0
        owner = self._view.owner_of(slot)
        return 0 if owner == self._view.shard else owner

    async def execute(self, shard: int, command, consistency) -> tuple[object, int]:
        """(result, index) from `shard`'s leader; raises UnavailableError / DeadlineError as a
        local write would when no leader answers in time."""
        requests, lanes = self._service.lanes_for([(command, consistency, "", 0)])
        _, consistency, client_id, sequence = requests[0]   # a write's lane; a read has none
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        members = self._view.map.shard(shard).members
        pause = _FIRST_PAUSE_S
        attempt = 0
        try:
            while True:
                leader = self._view.leader_of(shard)
                peer = leader if attempt == 0 else members[(members.index(leader) + attempt) % len(members)]
                try:
                    return await self._forwarder.forward(peer.id, command, consistency, client_id, sequence)
                except (NotLeaderError, UnavailableError):
                    attempt += 1
                    if loop.time() + pause > deadline:
                        raise
                    if attempt % len(members) == 0:   # every member tried: wait for an election
                        await asyncio.sleep(pause)
                        pause = min(2 * pause, _MAX_PAUSE_S)
        finally:
            self._service.give_back_lanes(lanes)

    async def close(self) -> None:
        await self._forwarder.close()
