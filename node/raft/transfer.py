"""Leadership transfer (Raft thesis 3.10): the leader hands leadership to another voter.

Owns the one transfer in progress (`LeadershipTransfer`, used by the
Replicator: `transfer_leadership`, for `ctl transfer-leader`, removing the
leader, and a leader told to stop). While it is in progress the leader logs
no new entry and holds no lease (the Replicator asks `in_progress`): the
target catches up, is sent PySyncObj's TimeoutNow, again after each election
timeout, and the callback gets the new leader's id; or UnavailableError at
the deadline, when no connected voter is left to take over, or when another
transfer is in progress, and RaftcacheError for an address that is not a
voter. Runs on the thread that ticks; must not
touch the keyspace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from raftcache.node.errors import RaftcacheError, UnavailableError


@dataclass
class Transfer:
    """A leadership transfer in progress (tick thread only)."""

    address: str | None          # target Raft address; None = the most caught-up voter
    deadline: float              # time.monotonic() after which it fails
    callback: Callable[[str | None, "RaftcacheError | None"], None]
    sent_at: float | None = None  # when TimeoutNow was last sent


class LeadershipTransfer:
    """The leader's transfer in progress, if any (module docstring)."""

    def __init__(self, retry_after_s: float, peer_id: Callable[[object], "str | None"],
                 later: Callable[[Callable[[], None]], None]):
        self._retry_after_s = retry_after_s   # TimeoutNow again after this long (the election timeout)
        self._peer_id = peer_id               # a PySyncObj node -> its member id
        self._later = later                   # run a call at the next tick
        self._current: Transfer | None = None

    @property
    def in_progress(self) -> bool:
        return self._current is not None

    def start(self, node, address: str | None, timeout_s: float, callback) -> None:
        """Begin handing leadership to `address` (None: the most caught-up connected voter)."""
        if self._current is not None:
            callback(None, UnavailableError("another leadership transfer is in progress"))
            return
        if address is not None and address not in {n.address for n in node.otherNodes}:
            callback(None, RaftcacheError(f"{address} is not a voting member"))
            return
        self._current = Transfer(address, time.monotonic() + timeout_s, callback)

    def step(self, node) -> None:
        """Every tick while one is in progress: send TimeoutNow once the target has caught up,
        and end it when another node leads, at its deadline, or with nobody to hand over to."""
        t = self._current
        if not node._isLeader():
            self._current = None
            leader = node._getLeader()
            if leader is not None:
                t.callback(self._peer_id(leader), None)
            else:
                # Stepped down; the new leader is not known yet: report it once known.
                self._later(lambda: self._report_new_leader(t, node))
            return
        now = time.monotonic()
        if now >= t.deadline:
            self._current = None
            t.callback(None, UnavailableError("leadership transfer did not complete in time; this node still leads"))
            return
        if t.sent_at is not None and now - t.sent_at < self._retry_after_s:
            return
        last = node.raft_log[-1][1]
        match = node.match_index
        candidates = [n for n in node.otherNodes if node.isNodeConnected(n)
                      and (t.address is None or n.address == t.address)]
        if not candidates:
            self._current = None  # nobody to hand over to: fail at once rather than pause writes
            t.callback(None, UnavailableError("no connected voter to hand leadership to"))
            return
        ready = [n for n in candidates if match.get(n, 0) >= last]
        if ready:
            target = max(ready, key=lambda n: n.address)
            t.sent_at = now
            node.transferLeadership(target.address)

    def _report_new_leader(self, t: Transfer, node) -> None:
        leader = node._getLeader()
        if leader is not None:
            t.callback(self._peer_id(leader), None)
        elif time.monotonic() >= t.deadline:
            t.callback(None, UnavailableError("no new leader was elected in time"))
        else:
            self._later(lambda: self._report_new_leader(t, node))
