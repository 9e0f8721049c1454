"""A lock-free latency histogram: calls, total µs, and log-linear buckets.

Eight buckets per power of two, so a percentile read from it is within
12.5 % of the true value. Recording is two integer additions and one
list-element bump: no lock, no allocation. One thread records into a
`Latency` (the event loop for the front ends, the Raft tick thread for the
journal's fsyncs); readers take copies. A leaf: imports nothing of the node.
"""

from __future__ import annotations

import time

#: Sub-buckets per power of two: a bucket's width is at most 1/8 of its values (12.5 %).
_SUB_BITS = 3
_SUB = 1 << _SUB_BITS
#: Durations up to 2**40 µs (12 days) have their own bucket; longer ones share the last.
_MAX_BITS = 40
_EXACT_BELOW = 1 << (_SUB_BITS + 1)   # durations below it are their own bucket
BUCKETS = (_MAX_BITS - _SUB_BITS) * _SUB + 2 * _SUB


def bucket_of(usec: int) -> int:
    """The bucket of a duration in µs (exact below 16 µs; monotonic in `usec`)."""
    if -_EXACT_BELOW < usec < _EXACT_BELOW:
        return usec if usec > 0 else 0
    bits = usec.bit_length()
    if bits > _MAX_BITS:
        return BUCKETS - 1
    shift = bits - _SUB_BITS - 1
    return shift * _SUB + (usec >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) in µs of a bucket."""
    if index < 2 * _SUB:
        return index, index + 1
    shift = index // _SUB - 1
    low = (index - shift * _SUB) << shift
    return low, low + (1 << shift)


class Latency:
    """Calls, their total duration and a histogram of their durations (µs)."""

    __slots__ = ("calls", "usec", "buckets")

    def __init__(self):
        self.calls = 0
        self.usec = 0
        self.buckets = [0] * BUCKETS

    def add(self, usec: int, calls: int = 1) -> None:
        """`calls` calls that took `usec` each."""
        self.calls += calls
        self.usec += usec * calls
        self.buckets[usec if 0 <= usec < _EXACT_BELOW else bucket_of(usec)] += calls   # bucket_of, inlined below 16

    def record(self, started_ns: int) -> None:
        """One call that started at time.perf_counter_ns() `started_ns` ended now."""
        self.add((time.perf_counter_ns() - started_ns) // 1000)

    def snapshot(self) -> dict:
        """{"calls", "usec", "buckets": [[low_us, high_us, count], …]} (non-empty buckets only)."""
        counts = list(self.buckets)
        return {"calls": self.calls, "usec": self.usec,
                "buckets": [[*bucket_bounds(i), n] for i, n in enumerate(counts) if n]}

    def percentile(self, p: float) -> float:
        """The duration (µs, the middle of its bucket) at or below which `p` % of calls took
        (INFO latencystats); 0.0 without calls."""
        if not self.calls:
            return 0.0
        rank = max(1, -(-self.calls * p // 100))
        seen = 0
        for index, n in enumerate(self.buckets):
            seen += n
            if n and seen >= rank:
                low, high = bucket_bounds(index)
                return low if high - low == 1 else (low + high - 1) / 2
        return float(bucket_bounds(BUCKETS - 1)[0])

    def cumulative_powers_of_two(self) -> list[tuple[int, int]]:
        """LATENCY HISTOGRAM's `histogram_usec`: (2**k, calls that took less than 2**k µs), for
        each power of two whose range holds calls (Redis's buckets; ours nest in them)."""
        out: list[tuple[int, int]] = []
        seen = 0
        bound, in_range = 1, 0
        for index, n in enumerate(self.buckets):
            if not n:
                continue
            low, _ = bucket_bounds(index)
            while low >= bound:
                if in_range:
                    out.append((bound, seen))
                    in_range = 0
                bound <<= 1
            seen += n
            in_range += n
        if in_range:
            out.append((bound, seen))
        return out

    def cumulative(self, bounds_us: list[int]) -> list[int]:
        """Calls that took less than each bound (µs; each a power of two ≥ 8, so a bucket edge)."""
        counts = list(self.buckets)
        out, total, i = [], 0, 0
        for bound in bounds_us:
            while i < BUCKETS and bucket_bounds(i)[1] <= bound:
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
