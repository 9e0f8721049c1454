"""Unit tests of cache-aside get_or_load: single-flight, negative caching, loader errors
passed through unchanged (in-memory fake cluster, no sockets)."""

import asyncio
import json

import pytest
from raftcache.client import AsyncClient, RetryPolicy
from raftcache.client.cache_aside import NEGATIVE_SUFFIX, AsyncSingleFlight
from raftcache.client.testing import FakeCluster


def make(fake, **options):
    return AsyncClient(fake.seeds, transport=fake, retry=RetryPolicy(initial_backoff_s=0.001), **options)


class LoaderFailed(Exception):
    pass


def test_single_flight_runs_one_call_for_concurrent_callers():
    async def main():
        flights = AsyncSingleFlight()
        calls = 0
        gate = asyncio.Event()

        async def work():
            nonlocal calls
            calls += 1
            await gate.wait()
            return "v"

        tasks = [asyncio.ensure_future(flights.do("k", work)) for _ in range(50)]
        await asyncio.sleep(0)
        assert len(flights) == 1
        gate.set()
        results = await asyncio.gather(*tasks)
        assert results == ["v"] * 50 and calls == 1 and len(flights) == 0
        assert await flights.do("k", work) == "v" and calls == 2   # a later call runs again
    asyncio.run(main())


def test_single_flight_shares_the_same_exception_object():
    async def main():
        flights = AsyncSingleFlight()
        boom = LoaderFailed("db down")
        gate = asyncio.Event()

        async def work():
            await gate.wait()
            raise boom

        tasks = [asyncio.ensure_future(flights.do("k", work)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(r is boom for r in results)
    asyncio.run(main())


def test_n_concurrent_misses_call_the_loader_once_and_cache_the_value():
    fake = FakeCluster()
    fake.delay_s = 0.005
    calls = 0

    async def loader():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return b"loaded"

    async def main():
        async with make(fake) as c:
            results = await asyncio.gather(*(c.get_or_load("k", loader, ttl=60) for _ in range(30)))
            again = await c.get_or_load("k", loader, ttl=60)
            return results, again
    results, again = asyncio.run(main())
    assert results == [b"loaded"] * 30 and again == b"loaded"
    assert calls == 1
    sets = [r for r in fake.executes() if r.command.WhichOneof("op") == "set"]
    assert len(sets) == 1 and sets[0].command.set.expiry.ttl_ms == 60_000


def test_loader_exception_passes_through_unchanged_and_nothing_is_cached():
    fake = FakeCluster()
    boom = LoaderFailed("backing store down")

    def loader():
        raise boom

    async def main():
        async with make(fake) as c:
            with pytest.raises(LoaderFailed) as info:
                await c.get_or_load("k", loader, ttl=5)
            return info.value
    assert asyncio.run(main()) is boom
    assert fake.data == {}


def test_negative_caching_remembers_none_in_a_sibling_key():
    fake = FakeCluster()
    calls = 0

    def loader():
        nonlocal calls
        calls += 1

    async def main():
        async with make(fake) as c:
            first = await c.get_or_load("user:9", loader, ttl=60, negative_ttl=5)
            second = await c.get_or_load("user:9", loader, ttl=60, negative_ttl=5)
            return first, second
    assert asyncio.run(main()) == (None, None)
    assert calls == 1
    assert list(fake.data) == [b"user:9" + NEGATIVE_SUFFIX]


def test_without_negative_ttl_none_is_not_cached():
    fake = FakeCluster()
    calls = 0

    def loader():
        nonlocal calls
        calls += 1

    async def main():
        async with make(fake) as c:
            await c.get_or_load("k", loader, ttl=60)
            await c.get_or_load("k", loader, ttl=60)
    asyncio.run(main())
    assert calls == 2 and fake.data == {}


def test_serializer_gives_the_same_type_on_hit_and_miss():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            kw = dict(ttl=60, serializer=json.dumps, deserializer=json.loads)
            miss = await c.get_or_load("cfg", lambda: {"a": [1, 2]}, **kw)
            hit = await c.get_or_load("cfg", lambda: pytest.fail("loader called on a hit"), **kw)
            return miss, hit
    assert asyncio.run(main()) == ({"a": [1, 2]}, {"a": [1, 2]})


def test_decode_responses_applies_to_cached_values():
    fake = FakeCluster()

    async def main():
        async with make(fake, decode_responses=True) as c:
            return await c.get_or_load("k", lambda: "text", ttl=1), await c.get_or_load("k", lambda: "x", ttl=1)
    assert asyncio.run(main()) == ("text", "text")
