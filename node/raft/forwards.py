"""Forwarded writes over the Raft connection: a follower's batch to its leader and the answer.

A follower whose Raft runs on the event loop sends the writes its clients gave
it (a serialized RequestBatch, as the gRPC ForwardBatch carries) to the leader
as an `rc_forward` message on the Raft connection, authenticated and
encrypted like every peer message, and gets the ReplyBatch back as
`rc_forward_reply`: one hop each way, where a gRPC call costs the follower
and the leader far more per batch. The leader runs a batch with the handler
the service installed (`handler(data, reply)`, node/frontends/grpc.py), the
same code as ForwardBatch, and stamps `rc_fw` on its append-entries so its
followers know it answers; a follower of a leader that does not (an older
release, Raft off the loop) or with a batch over REMOTE_MAX_BYTES uses gRPC.

Every ask gets exactly one callback: the reply, NotLeaderError when the
leader changed before it answered (retryable: the writes carry their dedup
identity), DeadlineError at the caller's deadline (the outcome is unknown,
as a gRPC deadline), UnavailableError when the replicator closes. A reply
too large for a Raft message comes back as RESEND: the caller sends the
same batch over gRPC, where the dedup table answers the writes already
applied. Runs on the thread that ticks (the event loop); must not touch the
keyspace.
"""

from __future__ import annotations

import itertools
import logging
from typing import Callable

from raftcache.node.errors import DeadlineError, NotLeaderError, RaftcacheError, Reason, UnavailableError

logger = logging.getLogger(__name__)

#: Largest batch (and reply) sent over the Raft connection; larger ones go over gRPC, so that
#: no forwarded value holds up the heartbeats and acknowledgements sharing the connection.
REMOTE_MAX_BYTES = 64 << 10
#: Forwarded batches a leader runs at once for one follower (its coalescer sends two at a time).
MAX_RUNNING_PER_PEER = 16

#: callback(reply bytes or None, error or None)
ForwardCallback = Callable[[bytes | None, RaftcacheError | None], None]


class ResendOverGrpc(UnavailableError):
    """The leader ran the batch but its reply is too large for a Raft message: send it again
    over gRPC (the writes' dedup identities make the second run answer, not apply, them)."""


_RESEND = "resend"
_WIRE_ERRORS = {Reason.NOT_LEADER.value: NotLeaderError, _RESEND: ResendOverGrpc}


class RaftForwards:
    """Both ends of forwarding over the Raft connection (module docstring)."""

    def __init__(self) -> None:
        self._asks: dict[int, tuple[ForwardCallback, float, object]] = {}   # follower: id -> (callback, deadline, leader)
        self._ids = itertools.count(1)
        self._running: dict[object, int] = {}   # leader: peer -> batches running for it
        #: leader: handler(data, reply) runs a batch and calls reply(data, error) once; None: not served here
        self.handler: Callable[[bytes, ForwardCallback], None] | None = None
        self.sent = 0        # batches sent as follower
        self.served = 0      # batches answered as leader
        self.closed = False

    # ------------------------------------------------------------ follower

    def ask(self, node, data: bytes, deadline: float, callback: ForwardCallback) -> bool:
        """Send `data` to the leader; False (nothing sent) when it must go over gRPC."""
        leader = node.leader_node
        if (self.closed or leader is None or node._isLeader() or not node.rc_leader_forwards
                or len(data) > REMOTE_MAX_BYTES):
            return False
        fid = next(self._ids)
        self._asks[fid] = (callback, deadline, leader)
        self.sent += 1
        node.send_forward(leader, fid, data)
        return True

    def step(self, node, now: float) -> None:
        """Every tick: fail the asks whose leader changed or whose deadline passed."""
        if not self._asks:
            return
        leader = None if node._isLeader() else node.leader_node
        for fid, (callback, deadline, asked) in list(self._asks.items()):
            if asked != leader:
                del self._asks[fid]
                callback(None, NotLeaderError("the leader changed before it answered the forwarded writes"))
            elif deadline <= now:
                del self._asks[fid]
                callback(None, DeadlineError("the leader did not answer in time; the outcome is unknown"))

    def on_reply(self, message: dict) -> None:
        """Follower: the leader's `rc_forward_reply`."""
        ask = self._asks.pop(message.get("id"), None)
        if ask is None:
            return  # failed already (deadline, leader change)
        error = message.get("error")
        data = message.get("data")
        if error is None and type(data) is bytes:
            ask[0](data, None)
            return
        reason, text = error if isinstance(error, tuple) and len(error) == 2 else (None, "malformed reply")
        ask[0](None, _WIRE_ERRORS.get(reason, UnavailableError)(str(text)))

    # ------------------------------------------------------------ leader

    def on_request(self, node, peer, message: dict) -> None:
        """Leader: a follower's `rc_forward`; the answer goes back to `peer` once."""
        fid = message.get("id")

        def reply(data: bytes | None, error: RaftcacheError | None) -> None:
            self._running[peer] -= 1
            if not self._running[peer]:
                del self._running[peer]
            if self.closed:
                return
            if error is None and len(data) > REMOTE_MAX_BYTES:
                error = ResendOverGrpc("the reply is too large for the Raft connection")
            self.served += 1
            wire = None if error is None else (_RESEND if isinstance(error, ResendOverGrpc) else error.reason.value,
                                               error.message)
            node.send_forward_reply(peer, fid, None if error is not None else data, wire)

        data = message.get("data")
        self._running[peer] = self._running.get(peer, 0) + 1
        if self.handler is None or not node._isLeader():
            reply(None, NotLeaderError("not the leader"))
        elif type(data) is not bytes:
            reply(None, UnavailableError("a forwarded batch must be bytes"))
        elif self._running[peer] > MAX_RUNNING_PER_PEER:
            reply(None, UnavailableError("too many forwarded batches at once; retry"))
        else:
            self.handler(data, reply)

    def close(self) -> None:
        """Fail every ask (the replicator stops); replies still running are dropped."""
        self.closed = True
        asks, self._asks = self._asks, {}
        for callback, _, _ in asks.values():
            callback(None, UnavailableError("replicator closed"))
