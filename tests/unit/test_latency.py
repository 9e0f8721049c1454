"""The latency histogram behind the dashboard's p50/p99 and the Prometheus histograms (node/latency.py)."""

from __future__ import annotations

import random

from raftcache.node.latency import Latency, bucket_bounds, bucket_of, percentile
from raftcache.node.service.metrics import BOUNDS_US


def test_every_duration_falls_in_its_buckets_bounds():
    for usec in [*range(0, 5000), 65_535, 65_536, 10**6, 10**9]:
        low, high = bucket_bounds(bucket_of(usec))
        assert low <= usec < high, usec


def test_buckets_are_contiguous_and_at_most_a_quarter_of_their_start_wide():
    previous_high = 0
    for index in range(len(Latency().buckets)):
        low, high = bucket_bounds(index)
        assert low == previous_high
        assert high - low <= max(1, low // 4)
        previous_high = high


def test_a_duration_beyond_the_last_bucket_is_counted_in_it():
    lat = Latency()
    lat.add(1 << 40)
    assert lat.calls == 1 and lat.buckets[-1] == 1


def test_percentiles_are_within_a_fifth_of_the_exact_ones():
    rng = random.Random(3)
    values = [int(rng.lognormvariate(7, 1.2)) for _ in range(20_000)]
    lat = Latency()
    for v in values:
        lat.add(v)
    values.sort()
    buckets = lat.snapshot()["buckets"]
    for q in (0.5, 0.9, 0.99):
        exact = values[int(q * len(values)) - 1]
        assert abs(percentile(buckets, q) - exact) <= 0.2 * exact, q
    assert percentile([], 0.5) is None


def test_cumulative_counts_match_the_prometheus_bounds():
    lat = Latency()
    for usec in (3, 15, 16, 17, 1000, 70_000):
        lat.add(usec)
    counts = dict(zip(BOUNDS_US, lat.cumulative(BOUNDS_US)))
    assert counts[16] == 2 and counts[32] == 4 and counts[1024] == 5 and counts[1 << 24] == 6
