"""A lock-free latency histogram: calls, total µs, and log-linear buckets.

Four buckets per power of two, so a percentile read from it is within about
20 % of the true value. Recording is two integer additions and one
list-element bump: no lock, no allocation. One thread records into a
`Latency` (the event loop for the front ends, the Raft tick thread for the
journal's fsyncs); readers take copies. A leaf: imports nothing of the node.
"""

from __future__ import annotations

import time

#: Durations at or beyond 2**MAX_POWER µs (about 18 min) share the last bucket.
MAX_POWER = 30
_SUB = 4                                   # buckets per power of two
_BUCKETS = _SUB * MAX_POWER                # index 0..7 are 0..7 µs, then four per power of two


def bucket_of(usec: int) -> int:
    """The bucket index of a duration in µs (exact below 8 µs)."""
    if usec < 8:
        return usec if usec > 0 else 0
    bits = usec.bit_length()
    if bits > MAX_POWER:
        return _BUCKETS - 1
    return _SUB * bits - 8 + ((usec >> (bits - 3)) & 3)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) in µs of a bucket."""
    if index < 8:
        return index, index + 1
    bits, sub = divmod(index + 8, _SUB)
    low = (4 + sub) << (bits - 3)
    return low, low + (1 << (bits - 3))


class Latency:
    """Calls, their total duration and a histogram of their durations (µs)."""

    __slots__ = ("calls", "usec", "buckets")

    def __init__(self):
        self.calls = 0
        self.usec = 0
        self.buckets = [0] * _BUCKETS

    def add(self, usec: int) -> None:
        self.calls += 1
        self.usec += usec
        self.buckets[bucket_of(usec)] += 1

    def record(self, started_ns: int) -> None:
        """One call that started at time.perf_counter_ns() `started_ns` ended now."""
        self.add((time.perf_counter_ns() - started_ns) // 1000)

    def snapshot(self) -> dict:
        """{"calls", "usec", "buckets": [[low_us, high_us, count], …]} (non-empty buckets only)."""
        counts = list(self.buckets)
        return {"calls": self.calls, "usec": self.usec,
                "buckets": [[*bucket_bounds(i), n] for i, n in enumerate(counts) if n]}

    def cumulative(self, bounds_us: list[int]) -> list[int]:
        """Calls that took less than each bound (µs; each a power of two ≥ 8, so a bucket edge)."""
        counts = list(self.buckets)
        out, total, i = [], 0, 0
        for bound in bounds_us:
            while i < _BUCKETS and bucket_bounds(i)[1] <= bound:
                total += counts[i]
                i += 1
            out.append(total)
        return out


def percentile(buckets: list[list[int]], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) in µs of a snapshot's buckets: the middle of the bucket
    holding it; None without calls."""
    total = sum(n for _, _, n in buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for low, high, n in buckets:
        seen += n
        if seen >= rank:
            return (low + high) / 2
    low, high, _ = buckets[-1]
    return (low + high) / 2
