"""The leader's proposals in flight: each one's callback, its deadline, and what PySyncObj's failures mean.

Owns the proposals the Replicator (node/raft/replication.py) handed to
PySyncObj and has not answered yet: an id per proposal, its callback (called
exactly once: the entry's result once applied, a NotLeaderError or
UnavailableError when it was not applied, a DeadlineError when its outcome is
unknown — after `proposal_timeout_s` too) and the mapping of PySyncObj's
FAIL_REASON onto those errors. With Raft on its own thread, callers add from
any thread and the tick thread answers: dict.pop and deque.append/popleft are
atomic, so no lock is shared and the tick thread never waits on a caller.
Must not touch: PySyncObj's state, sockets.
"""

from __future__ import annotations

import collections
import itertools
import time
from typing import Callable

from pysyncobj.config import FAIL_REASON

from raftcache.node.errors import DeadlineError, NotLeaderError, RaftcacheError, UnavailableError

ProposeCallback = Callable[[object, int, "RaftcacheError | None"], None]

# FAIL_REASON -> (error class, message). "Outcome unknown" cases map to
# DeadlineError, whose contract is exactly that; the others were not applied.
_FAILURES: dict[int, tuple[type[RaftcacheError], str]] = {
    FAIL_REASON.QUEUE_FULL: (UnavailableError, "proposal queue full"),
    FAIL_REASON.MISSING_LEADER: (UnavailableError, "no leader"),
    FAIL_REASON.DISCARDED: (UnavailableError, "entry discarded by a new leader"),
    FAIL_REASON.NOT_LEADER: (NotLeaderError, "not the leader"),
    FAIL_REASON.LEADER_CHANGED: (DeadlineError, "leader changed; outcome unknown"),
    FAIL_REASON.REQUEST_DENIED: (UnavailableError, "request denied"),
    FAIL_REASON.UNKNOWN_OUTCOME: (DeadlineError, "outcome unknown"),
}


def failure(reason: int) -> RaftcacheError:
    """The error a proposal (or a membership change) that PySyncObj failed with `reason` gets."""
    cls, message = _FAILURES.get(reason, (UnavailableError, f"replication failed ({reason})"))
    return cls(message)


class Proposals:
    """Callbacks of proposals not answered yet, and their deadlines (module docstring)."""

    def __init__(self, timeout_s: float):
        self._timeout_s = timeout_s
        self._callbacks: dict[int, ProposeCallback] = {}
        # (deadline, id) in deadline order (one timeout for all, so appending keeps it sorted)
        self._deadlines: collections.deque[tuple[float, int]] = collections.deque()
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, callback: ProposeCallback) -> int:
        """A new proposal's id; `callback` will be answered once, by `answer` or by `expire`."""
        pid = next(self._ids)
        self._callbacks[pid] = callback
        self._deadlines.append((time.monotonic() + self._timeout_s, pid))
        return pid

    def answer(self, pid: int, res, reason: int) -> None:
        """PySyncObj's callback for proposal `pid`: `res` is (index, result) on success."""
        callback = self._callbacks.pop(pid, None)
        if callback is None:
            return  # already failed with DeadlineError
        if reason == FAIL_REASON.SUCCESS:
            index, result = res
            callback(result, index, None)
        else:
            callback(None, 0, failure(reason))

    def expire(self) -> None:
        """Fail the proposals past their deadline: their outcome is unknown (the tick's)."""
        deadlines = self._deadlines
        now = time.monotonic()
        while deadlines and deadlines[0][0] <= now:
            _, pid = deadlines.popleft()
            callback = self._callbacks.pop(pid, None)
            if callback is not None:
                callback(None, 0, DeadlineError(f"not committed within {self._timeout_s:g} s; outcome unknown"))

    def fail_all(self, error: Callable[[], RaftcacheError]) -> None:
        """Answer every proposal still waiting with an error made by `error` (one each: an
        exception raised in several tasks would share its traceback; the replicator closed)."""
        for pid in list(self._callbacks):
            callback = self._callbacks.pop(pid, None)
            if callback is not None:
                callback(None, 0, error())
