"""Latency events of one node, as Redis's latency monitor keeps them (LATENCY LATEST/HISTORY/
RESET/DOCTOR). The per-command histograms (INFO latencystats, LATENCY HISTOGRAM) are
node/latency.py's `Latency`.

A leaf: the Raft layer reports `commit`, `apply`, `fsync`, `snapshot` and
`election` here from its own thread, the Redis front end `command` and
`fast-command` (a slow command with Redis's `fast` flag), node/collector.py
`gc`; front ends read it.
Nothing is recorded while `threshold_ms` is 0 (CONFIG SET
latency-monitor-threshold, node-local): callers compare with it before
taking a time, so an idle monitor costs one attribute read.

As in Redis (latency.c): an event keeps its last HISTORY_LEN samples, one
per second (a second sample in the same second keeps the larger), and the
largest ever seen; timestamps are Unix seconds, latencies milliseconds.
"""

from __future__ import annotations

import collections
import threading
import time

#: Samples kept per event (Redis's LATENCY_TS_LEN).
HISTORY_LEN = 160

#: Events raftcache reports, and what DOCTOR advises about each.
ADVICE = {
    "command": "Slow commands: check SLOWLOG GET; large values, big ranges (LRANGE 0 -1, SMEMBERS) and KEYS "
               "cost time proportional to their size.",
    "fast-command": "A command flagged O(1) was slow: the node is overloaded or starved of CPU.",
    "commit": "Writes waited long for a majority: check the network between the nodes, a slow or lagging "
              "follower (INFO replication) and the journal fsync of the followers.",
    "apply": "Applying an entry to the keyspace was slow: large values or large collections written at once, "
             "or a slow disk under the LMDB map.",
    "fsync": "The journal fsync was slow: the disk is slow or shared; appendfsync always makes every write wait "
             "for it.",
    "snapshot": "A snapshot (log compaction, or a follower installing one) took long: it grows with the keyspace; "
                "the node serves no Raft traffic while it writes one.",
    "gc": "Python's garbage collector stopped the node this long: it walks every live container object "
          "created since the node started serving (many connections, large queued MULTIs or pipelines make "
          "it longer); a collection of 50 ms or more is also logged.",
    "election": "The cluster had no leader for this long: a node died, a partition, or election timeouts too "
                "short for the machine's load.",
}


class _Series:
    __slots__ = ("samples", "max_ms")

    def __init__(self) -> None:
        self.samples: collections.deque[list[int]] = collections.deque(maxlen=HISTORY_LEN)  # [time_s, ms]
        self.max_ms = 0


class LatencyMonitor:
    """The latency events of one node; record() from any thread."""

    def __init__(self, threshold_ms: int = 0, clock=time.time) -> None:
        #: Events at or above this many milliseconds are recorded; 0: the monitor is off.
        self.threshold_ms = threshold_ms
        self._clock = clock
        self._events: dict[str, _Series] = {}
        self._lock = threading.Lock()

    def record(self, event: str, ms: float) -> None:
        """One occurrence of `event` that took `ms` milliseconds (ignored under the threshold)."""
        threshold = self.threshold_ms
        if not threshold or ms < threshold:
            return
        ms, now = int(ms), int(self._clock())
        with self._lock:
            series = self._events.get(event)
            if series is None:
                series = self._events[event] = _Series()
            last = series.samples[-1] if series.samples else None
            if last is not None and last[0] == now:
                last[1] = max(last[1], ms)
            else:
                series.samples.append([now, ms])
            series.max_ms = max(series.max_ms, ms)

    def latest(self) -> list[tuple[str, int, int, int]]:
        """LATENCY LATEST: (event, time of its latest sample, latest ms, largest ms ever) each."""
        with self._lock:
            return [(name, s.samples[-1][0], s.samples[-1][1], s.max_ms)
                    for name, s in self._events.items() if s.samples]

    def history(self, event: str) -> list[tuple[int, int]]:
        """LATENCY HISTORY: the (time, ms) samples of `event`, oldest first."""
        with self._lock:
            series = self._events.get(event)
            return [(t, ms) for t, ms in series.samples] if series is not None else []

    def reset(self, events: list[str] | None = None) -> int:
        """LATENCY RESET: forget the named events (None: all); how many were there."""
        with self._lock:
            names = list(self._events) if events is None else [e for e in dict.fromkeys(events) if e in self._events]
            for name in names:
                del self._events[name]
            return len(names)

    def doctor(self) -> str:
        """LATENCY DOCTOR: a report a person reads (its wording is raftcache's)."""
        if not self.threshold_ms:
            return ("Latency monitoring is disabled on this node. Use CONFIG SET latency-monitor-threshold "
                    "<milliseconds> to enable it (it is node-local: set it on every node you want to watch).\n")
        with self._lock:
            report = [(name, [ms for _, ms in s.samples], s.samples[0][0], s.samples[-1][0], s.max_ms)
                      for name, s in self._events.items() if s.samples]
        if not report:
            return ("No latency spike at or above the threshold "
                    f"({self.threshold_ms} ms) was observed on this node since it started or was reset.\n")
        lines = ["Latency spikes observed on this node (threshold "
                 f"{self.threshold_ms} ms):", ""]
        for i, (name, samples, first, last, worst) in enumerate(sorted(report), 1):
            mean = sum(samples) / len(samples)
            deviation = sum(abs(ms - mean) for ms in samples) / len(samples)
            period = (last - first) / max(len(samples) - 1, 1)
            lines.append(f"{i}. {name}: {len(samples)} latency spikes (average {mean:.0f}ms, mean deviation "
                         f"{deviation:.0f}ms, period {period:.1f} sec). Worst all time event {worst}ms.")
        lines += ["", "Advice:"]
        lines += [f"- {name}: {ADVICE[name]}" for name, *_ in sorted(report) if name in ADVICE]
        return "\n".join(lines) + "\n"
