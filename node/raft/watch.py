"""What the Raft layer reports about itself: latency events (node/latency_events.py: `commit`,
`apply`, `fsync`, `snapshot`, `election`) and log lines on the progress of long work
(a follower catching up, a snapshot written, sent or installed, a leader elected).

One `RaftWatch` per Replicator, driven from the tick thread (`tick`) and
from the points it wraps; it never changes what Raft does. `latency` is
the node's monitor (the server hands the service's one over; its threshold
is 0 until CONFIG SET latency-monitor-threshold, and then nothing is timed).
Log lines carry the term and index they are about (docs/diagnostics.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from raftcache.node.latency_events import LatencyMonitor
from raftcache.progress import eta_text

logger = logging.getLogger(__name__)

#: A follower this many entries behind its commit index logs its catch-up…
CATCH_UP_MIN_ENTRIES = 1000
#: …at most this often.
PROGRESS_EVERY_S = 5.0


class RaftWatch:
    """Latency events and progress lines of one node's Raft layer."""

    def __init__(self, latency: LatencyMonitor | None = None, clock: Callable[[], float] = time.monotonic,
                 me: str = ""):
        self.latency = latency or LatencyMonitor()
        self._clock = clock
        self._me = me
        self._heard: float | None = None        # when a leader was last heard from (or, leading, now)
        self._leaderless_since: float | None = clock()
        self._leader: str | None = None
        self._catch_up: tuple[float, int] | None = None   # (when, applied) of the last progress line
        self._snapshot_in: tuple[float, int, float] | None = None   # (started, bytes, last line)

    def timed(self, event: str, ms: float) -> None:
        self.latency.record(event, ms)

    def wrap_apply(self, apply: Callable[[int, bytes], object]) -> Callable[[int, bytes], object]:
        """`apply` timed as the `apply` event while the latency monitor is on."""
        def timed_apply(index: int, data: bytes):
            if not self.latency.threshold_ms:
                return apply(index, data)
            started = time.perf_counter()
            try:
                return apply(index, data)
            finally:
                self.latency.record("apply", (time.perf_counter() - started) * 1000)
        return timed_apply

    def wrap_commit(self, callback):
        """A proposal's callback, timing propose -> applied here as `commit` (monitor on only)."""
        if not self.latency.threshold_ms:
            return callback
        started = time.perf_counter()

        def done(result, index, error):
            if error is None:
                self.latency.record("commit", (time.perf_counter() - started) * 1000)
            callback(result, index, error)
        return done

    def fsync_done(self, ms: float) -> None:
        """The journal's fsync took `ms` (any appendfsync policy): the `fsync` event."""
        self.latency.record("fsync", ms)

    def snapshot(self, what: str, run: Callable[[], object], term: int, index: int) -> object:
        """Write or install a snapshot (`what`): timed as `snapshot`, logged with its duration."""
        logger.info("%s snapshot started", what, extra={"term": term, "index": index})
        started = time.perf_counter()
        try:
            return run()
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.latency.record("snapshot", ms)
            logger.info("%s snapshot finished in %.2f s", what, ms / 1000, extra={"term": term, "index": index})

    @property
    def snapshot_received_bytes(self) -> int:
        """Bytes of the leader's snapshot received so far while one arrives; 0 otherwise."""
        receiving = self._snapshot_in
        return receiving[1] if receiving is not None else 0

    def snapshot_received(self, nbytes: int, last: bool) -> None:
        """A piece of the leader's snapshot arrived (a new or lagging follower): logged every
        PROGRESS_EVERY_S with the bytes so far and the rate, and when complete."""
        now = self._clock()
        if self._snapshot_in is None:
            self._snapshot_in = (now, 0, now)
            logger.info("receiving a snapshot from the leader")
        started, received, shown = self._snapshot_in
        received += nbytes
        if last:
            self._snapshot_in = None
            logger.info("snapshot received: %.1f MiB in %.1f s", received / (1 << 20), now - started)
            return
        if now - shown >= PROGRESS_EVERY_S:
            shown = now
            logger.info("receiving a snapshot: %.1f MiB so far, %.1f MiB/s", received / (1 << 20),
                        received / (1 << 20) / max(now - started, 1e-6))
        self._snapshot_in = (started, received, shown)

    def tick(self, leader_id: str | None, term: int, commit_index: int, applied_index: int,
             last_contact: float | None = None) -> None:
        """Every tick: elections, and a lagging node's catch-up. `last_contact`: when (this clock)
        a leader's append-entries last arrived here (None: never); the time from the old
        leader's last message to the new leader is the `election` event."""
        now = self._clock()
        if leader_id != self._leader:
            if leader_id is None:
                logger.warning("lost the leader %s", self._leader, extra={"term": term})
                self._leaderless_since = self._heard if self._heard is not None else now
            else:
                since = self._leaderless_since
                if since is None and self._leader is not None:
                    since = self._heard      # straight from one leader to the next
                if since is not None:
                    waited_ms = max(now - since, 0.0) * 1000
                    self.latency.record("election", waited_ms)
                    logger.info("leader is %s (after %.0f ms without one)", leader_id, waited_ms,
                                extra={"term": term, "index": commit_index})
                else:
                    logger.info("leader is %s", leader_id, extra={"term": term, "index": commit_index})
                self._leaderless_since = None
            self._leader = leader_id
        if leader_id is not None:
            self._heard = last_contact if last_contact is not None and leader_id != self._me else now
        behind = commit_index - applied_index
        if behind < CATCH_UP_MIN_ENTRIES:
            if self._catch_up is not None:
                logger.info("caught up with the log", extra={"term": term, "index": applied_index})
                self._catch_up = None
            return
        if self._catch_up is None:
            self._catch_up = (now, applied_index)
            logger.info("catching up: %d entries behind the commit index %d", behind, commit_index,
                        extra={"term": term, "index": applied_index})
            return
        since, applied_then = self._catch_up
        if now - since >= PROGRESS_EVERY_S:
            rate = (applied_index - applied_then) / (now - since)
            logger.info("catching up: applied %d of %d, %.0f entries/s, ETA %s", applied_index, commit_index,
                        rate, eta_text(behind / rate if rate > 0 else float("inf")),
                        extra={"term": term, "index": applied_index})
            self._catch_up = (now, applied_index)
