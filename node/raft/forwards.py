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

Every ask gets exactly one callback: the reply (only from the leader asked,
and ids start at random so a restarted follower never takes its previous
process's answers), NotLeaderError when the leader changed before it
answered and UnavailableError when the connection to it dropped (both
retryable: the writes carry their dedup identity), DeadlineError at the
caller's deadline (the outcome is unknown, as a gRPC deadline),
UnavailableError when the replicator closes. RESEND (ResendOverGrpc) asks
the caller to send the same batch over gRPC: the leader ran it but the
reply is too large for a Raft message (the dedup table then answers the
writes already applied), or it was running too many of that follower's
batches and ran nothing. Both ends are bounded: MAX_ASKS batches and
MAX_ASK_BYTES on the follower (more go over gRPC), MAX_RUNNING_PER_PEER on
the leader. Runs on the thread that ticks (the event loop); must not touch the
keyspace.
"""

from __future__ import annotations

import itertools
import random
from typing import Callable

from raftcache.node.errors import DeadlineError, NotLeaderError, RaftcacheError, Reason, UnavailableError
from raftcache.node.raft.readindex import error_from_wire

#: Largest batch (and reply) sent over the Raft connection; larger ones go over gRPC, so that
#: no forwarded value holds up the heartbeats and acknowledgements sharing the connection.
REMOTE_MAX_BYTES = 64 << 10
#: Follower: batches, and their bytes, on the Raft connection at once; more go over gRPC.
MAX_ASKS = 64
MAX_ASK_BYTES = 1 << 20
#: Leader: batches it runs at once for one follower (above the follower's own bound); more
#: are answered RESEND without running them.
MAX_RUNNING_PER_PEER = 2 * MAX_ASKS

#: callback(reply bytes or None, error or None)
ForwardCallback = Callable[[bytes | None, RaftcacheError | None], None]


class ResendOverGrpc(UnavailableError):
    """Send the batch again over gRPC: the leader did not run it (too many at once), or ran it
    and its reply is too large for a Raft message (the writes' dedup identities then make the
    second run answer them, not apply them again)."""


_RESEND = "resend"
_WIRE_ERRORS = {Reason.NOT_LEADER.value: NotLeaderError, _RESEND: ResendOverGrpc}


class RaftForwards:
    """Both ends of forwarding over the Raft connection (module docstring)."""

    def __init__(self) -> None:
        #: follower: id -> (callback, deadline, leader, bytes); ids start at random, so a reply
        #: meant for this node's previous process (same peer, same id) never matches an ask
        self._asks: dict[int, tuple[ForwardCallback, float, object, int]] = {}
        self._ask_bytes = 0
        self._ids = itertools.count(random.getrandbits(62))
        self._running: dict[object, int] = {}   # leader: peer -> batches running for it
        #: leader: handler(data, reply) runs a batch and calls reply(data, error) once; None: not served here
        self.handler: Callable[[bytes, ForwardCallback], None] | None = None
        self.sent = 0        # batches sent as follower
        self.served = 0      # batches run and answered as leader
        self.closed = False

    # ------------------------------------------------------------ follower

    def ask(self, node, data: bytes, deadline: float, callback: ForwardCallback) -> bool:
        """Send `data` to the leader; False (nothing sent) when it must go over gRPC."""
        leader = node.leader_node
        if (self.closed or leader is None or node._isLeader() or not node.rc_leader_forwards
                or len(data) > REMOTE_MAX_BYTES or len(self._asks) >= MAX_ASKS
                or self._ask_bytes + len(data) > MAX_ASK_BYTES):
            return False
        fid = next(self._ids)
        if not node.send_forward(leader, fid, data):
            return False   # no connection to the leader now
        self._asks[fid] = (callback, deadline, leader, len(data))
        self._ask_bytes += len(data)
        self.sent += 1
        return True

    def step(self, node, now: float) -> None:
        """Every tick: fail the asks whose leader changed, whose connection to it dropped (the
        message or its answer may be lost: retryable, the writes carry their dedup identity),
        or whose deadline passed."""
        if not self._asks:
            return
        leader = None if node._isLeader() else node.leader_node
        connected = leader is not None and node.connected_to(leader)
        for fid, (_, deadline, asked, _) in list(self._asks.items()):
            if asked != leader:
                self._take(fid)(None, NotLeaderError("the leader changed before it answered the forwarded writes"))
            elif not connected:
                self._take(fid)(None, UnavailableError("the connection to the leader dropped; retry"))
            elif deadline <= now:
                self._take(fid)(None, DeadlineError("the leader did not answer in time; the outcome is unknown"))

    def _take(self, fid: int) -> ForwardCallback:
        """The callback of ask `fid`, which ends here."""
        callback, _, _, size = self._asks.pop(fid)
        self._ask_bytes -= size
        return callback

    def on_reply(self, sender, message: dict) -> None:
        """Follower: the leader's `rc_forward_reply` (from `sender`: only the leader asked counts)."""
        fid = message.get("id")
        ask = self._asks.get(fid) if type(fid) is int else None
        if ask is None or ask[2] != sender:
            return  # failed already (deadline, leader change), or not the answer to our ask
        callback = self._take(fid)
        error, data = message.get("error"), message.get("data")
        if error is None and type(data) is bytes:
            callback(data, None)
        else:
            callback(None, error_from_wire(error, _WIRE_ERRORS))

    # ------------------------------------------------------------ leader

    def on_request(self, node, peer, message: dict) -> None:
        """Leader: a follower's `rc_forward`; the answer goes back to `peer` once."""
        fid, data = message.get("id"), message.get("data")
        if type(fid) is not int:
            return   # malformed: nobody could match an answer

        def refuse(error: RaftcacheError) -> None:
            if not self.closed:
                node.send_forward_reply(peer, fid, None, (_RESEND if isinstance(error, ResendOverGrpc)
                                                          else error.reason.value, error.message))

        def reply(result: bytes | None, error: RaftcacheError | None) -> None:
            self._running[peer] -= 1
            if not self._running[peer]:
                del self._running[peer]
            if error is None and len(result) > REMOTE_MAX_BYTES:
                error = ResendOverGrpc("the reply is too large for the Raft connection")
            if error is not None:
                refuse(error)
            elif not self.closed:
                self.served += 1
                node.send_forward_reply(peer, fid, result, None)

        if self.handler is None or not node._isLeader():
            refuse(NotLeaderError("not the leader"))
        elif type(data) is not bytes:
            refuse(UnavailableError("a forwarded batch must be bytes"))
        elif self._running.get(peer, 0) >= MAX_RUNNING_PER_PEER:
            refuse(ResendOverGrpc("too many forwarded batches at once"))
        else:
            self._running[peer] = self._running.get(peer, 0) + 1
            self.handler(data, reply)

    def close(self) -> None:
        """Fail every ask (the replicator stops); replies still running are dropped."""
        self.closed = True
        asks, self._asks, self._ask_bytes = self._asks, {}, 0
        for callback, _, _, _ in asks.values():
            callback(None, UnavailableError("replicator closed"))
