"""The near cache's rule (client/near_cache.py): a value is kept only when the read saw an
index at or past the stream's start and past every invalidation of its key it overlapped."""

from __future__ import annotations

from raftcache.client.near_cache import MISS, NearCache


def _read(cache: NearCache, key: bytes, value, index: int | None, db: int = 0) -> None:
    cache.begin(db, key)
    cache.end(db, key, value, index)


def test_nothing_is_kept_before_the_stream_is_in_place_nor_from_a_read_older_than_it():
    cache = NearCache(10)
    _read(cache, b"k", b"v", 5)
    assert cache.get(0, b"k") is MISS
    cache.floor = 7
    _read(cache, b"k", b"v", 6)
    assert cache.get(0, b"k") is MISS, "read before the stream's first index"
    _read(cache, b"k", b"v", 7)
    assert cache.get(0, b"k") == b"v"


def test_an_invalidation_newer_than_a_read_in_flight_keeps_it_out():
    cache = NearCache(10)
    cache.floor = 1
    cache.begin(0, b"k")
    cache.invalidate([b"k"], 12)          # a write at 12 applied while the read was in flight
    cache.end(0, b"k", b"old", 11)         # the read saw 11: older than the write
    assert cache.get(0, b"k") is MISS
    cache.begin(0, b"k")
    cache.invalidate([b"k"], 12)
    cache.end(0, b"k", b"new", 12)         # the read saw the write
    assert cache.get(0, b"k") == b"new"


def test_invalidations_flushes_writes_and_a_lost_stream_empty_it():
    cache = NearCache(10)
    cache.floor = 1
    for key in (b"a", b"b", b"c"):
        _read(cache, key, key, 5, db=0)
    _read(cache, b"a", b"a3", 5, db=3)
    cache.invalidate([b"a"], 6)
    assert cache.get(0, b"a") is MISS and cache.get(3, b"a") is MISS, "every database's entry"
    cache.drop([b"b"])
    assert cache.get(0, b"b") is MISS and cache.get(0, b"c") == b"c"
    cache.invalidate_all(8)
    assert cache.get(0, b"c") is MISS
    cache.begin(0, b"c")
    cache.invalidate_all(9)
    cache.end(0, b"c", b"c", 8)
    assert cache.get(0, b"c") is MISS, "read older than a flush it overlapped"
    _read(cache, b"c", b"c", 9)
    cache.lost()
    assert cache.get(0, b"c") is MISS and cache.floor is None


def test_the_least_recently_used_goes_first_and_stats_count():
    cache = NearCache(2)
    cache.floor = 1
    _read(cache, b"a", b"1", 1)
    _read(cache, b"b", b"2", 1)
    assert cache.get(0, b"a") == b"1"      # a is now the most recent
    _read(cache, b"c", b"3", 1)
    assert cache.get(0, b"b") is MISS and cache.get(0, b"a") == b"1"
    stats = cache.snapshot_stats()
    assert (stats.hits, stats.misses, stats.size) == (2, 1, 2)


def test_the_clients_own_write_makes_later_misses_read_at_least_its_index():
    cache = NearCache(10)
    cache.floor = 1
    _read(cache, b"k", b"old", 5)
    cache.begin(0, b"k")                   # a read in flight when the client writes k at 9
    cache.wrote([b"k"], 9)
    assert cache.get(0, b"k") is MISS, "the client's own write drops its cached value"
    assert cache.seen == 9, "a miss now reads at min_index 9: a lagging replica cannot answer 'old'"
    cache.end(0, b"k", b"old", 8)          # that read saw 8: older than the write
    assert cache.get(0, b"k") is MISS
    assert cache.stats.invalidations == 0, "a write of its own is not an invalidation"
