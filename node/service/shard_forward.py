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

PUBLISH reaches every shard, as in Redis Cluster (SPUBLISH stays with its
slot's shard): the node that accepted a client's PUBLISH, once its own shard
committed it, relays it to every other shard (`relay_publish`), which logs
it like any PUBLISH, so each of that shard's nodes delivers it. Per target
shard one queue (bounded: MAX_RELAY_QUEUE; beyond it a message is not relayed
and counted) and one sender, batches of up to RELAY_BATCH over
Internal.ForwardBatch, in order, each message with its own forwarding lane
(a batch resent after a lost reply is applied once). At most once, as Redis
Pub/Sub: a node that dies before relaying, or a shard with no leader for the
request timeout, loses the message for that shard's subscribers.
"""

from __future__ import annotations

import asyncio
import logging

from raftcache import slots as slotmath
from raftcache.commandkeys import command_keys
from raftcache.node.errors import CommandError, NotLeaderError, RaftcacheError, Reason, UnavailableError

log = logging.getLogger(__name__)

#: Messages waiting to be relayed to one shard, at most; beyond, a PUBLISH is not relayed there.
MAX_RELAY_QUEUE = 10_000
#: Messages per Internal.ForwardBatch of a relay.
RELAY_BATCH = 256
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
        self._relay_queues: dict[int, list] = {}   # shard -> PUBLISH commands not yet sent there
        self._relay_tasks: dict[int, asyncio.Task] = {}
        #: PUBLISH messages relayed / not relayed (queue full, or no leader in time) to other shards
        self.relayed = 0
        self.relay_dropped = 0

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
        try:
            outcome = await self._on_leader(shard, lambda peer: self._forwarder.forward(peer.id, *requests[0]))
            moved_to = self._moved_to(outcome[0])
            if moved_to and moved_to not in (shard, self._view.shard):   # the slot just moved on: one more hop
                outcome = await self._on_leader(moved_to, lambda peer: self._forwarder.forward(peer.id, *requests[0]))
            return outcome
        finally:
            self._service.give_back_lanes(lanes)

    def _moved_to(self, result) -> int:
        """The shard a WRONG_SHARD answer ("SLOT HOST:PORT", a leader's Redis address) names, else 0."""
        if not isinstance(result, CommandError) or result.reason != Reason.WRONG_SHARD:
            return 0
        address = result.message.partition(" ")[2].strip()
        for shard in self._view.map.shards:
            if any(self._view.client_peer(shard.id, p).address("redis") == address for p in shard.members):
                return shard.id
        return 0

    async def _on_leader(self, shard: int, send):
        """send(peer) on the shard's leader as this node knows it, else on each member in turn,
        until one is the leader or the request timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        members = self._view.map.shard(shard).members
        pause = _FIRST_PAUSE_S
        attempt = 0
        while True:
            leader = self._view.leader_of(shard)
            peer = leader if attempt == 0 else members[(members.index(leader) + attempt) % len(members)]
            try:
                return await send(peer)
            except (NotLeaderError, UnavailableError):
                attempt += 1
                if loop.time() + pause > deadline:
                    raise
                if attempt % len(members) == 0:   # every member tried: wait for an election
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, _MAX_PAUSE_S)

    # ------------------------------------------------------------ PUBLISH to every shard

    def relay_publish(self, command) -> None:
        """Queue a PUBLISH this node's shard committed for every other shard (module docstring)."""
        for shard in self._view.map.shards:
            if shard.id == self._view.shard:
                continue
            queue = self._relay_queues.setdefault(shard.id, [])
            if len(queue) >= MAX_RELAY_QUEUE:
                self.relay_dropped += 1
                continue
            queue.append(command)
            if shard.id not in self._relay_tasks:
                self._relay_tasks[shard.id] = asyncio.ensure_future(self._send_relays(shard.id))

    async def _send_relays(self, shard: int) -> None:
        queue = self._relay_queues[shard]
        try:
            while queue:
                batch, queue[:] = queue[:RELAY_BATCH], queue[RELAY_BATCH:]
                requests, lanes = self._service.lanes_for([(c, None, "", 0) for c in batch])
                try:
                    outcomes = await self._on_leader(
                        shard, lambda peer: self._forwarder.forward_batch(peer.id, requests))
                    failed = sum(isinstance(o, BaseException) for o in outcomes)
                except RaftcacheError as e:
                    log.warning("PUBLISH not relayed to shard %d (%d messages): %s", shard, len(batch), e)
                    failed = len(batch)
                finally:
                    self._service.give_back_lanes(lanes)
                self.relayed += len(batch) - failed
                self.relay_dropped += failed
        finally:
            del self._relay_tasks[shard]

    async def close(self) -> None:
        tasks = list(self._relay_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._forwarder.close()
