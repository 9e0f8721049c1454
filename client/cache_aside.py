"""Cache-aside: `get_or_load(key, loader, ttl=…)` with per-key single-flight.

On a miss, one caller per key in this process runs the loader and stores
its result; concurrent callers for the same key wait for that one call and
get the same result, or the same exception (the loader's exceptions pass
through unchanged, never wrapped). With `negative_ttl`, a loader result of
None is remembered for that long in a sibling key (`key + NEGATIVE_SUFFIX`),
so the stored value of `key` itself stays exactly what the loader returned
and other Redis/memcached clients can read it.

Errors: a failed cache read raises (the cluster is unreachable: rather than
stampede the backing store, the caller decides); a failed cache write after
a successful load is logged and the loaded value returned.

The plan (`_Plan`) is shared; the async and sync drivers differ only in how
they wait.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable

from raftcache.client.commands import READ, WRITE, expiry
from raftcache.client.errors import RaftcacheError

log = logging.getLogger("raftcache.client")

NEGATIVE_SUFFIX = b"\x00raftcache:nil"
_MISS = object()


class _Plan:
    """The commands and conversions of one get_or_load (no I/O)."""

    def __init__(self, view, key, ttl, negative_ttl, serializer, deserializer):
        self.view = view
        self.key = view._enc(key)
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.serializer = serializer
        self.deserializer = deserializer
        self.flight_key = (view._db, self.key)

    def lookup(self):
        keys = [self.key, self.key + NEGATIVE_SUFFIX] if self.negative_ttl is not None else [self.key]
        return self.view._cmd("mget", keys=keys)

    def interpret(self, values: list):
        """The cached result, None for a remembered negative, or _MISS."""
        if values[0] is not None:
            return self._decode(values[0])
        if len(values) > 1 and values[1] is not None:
            return None
        return _MISS

    def store(self, value):
        """The command that caches the loader's `value`, or None when nothing is cached."""
        if value is None:
            if self.negative_ttl is None:
                return None
            return self.view._cmd("set", key=self.key + NEGATIVE_SUFFIX, value=b"",
                                  expiry=expiry(ex=self.negative_ttl))
        return self.view._cmd("set", key=self.key, value=self._encode(value), expiry=expiry(ex=self.ttl))

    def result(self, value):
        """What a later hit would return for `value`: the same type on a hit and on a miss."""
        return None if value is None else self._decode(self._encode(value))

    def _encode(self, value) -> bytes:
        return self.view._enc(self.serializer(value) if self.serializer else value)

    def _decode(self, raw: bytes):
        return self.deserializer(raw) if self.deserializer else self.view._dec(raw)


# ---------------------------------------------------------------- asyncio


class AsyncSingleFlight:
    """At most one running call per key; later callers await its outcome."""

    def __init__(self) -> None:
        self._calls: dict[object, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def do(self, key, fn: Callable):
        fut = self._calls.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = self._calls[key] = asyncio.get_running_loop().create_future()
        try:
            result = await fn()
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "exception never retrieved" warning when nobody waits
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            del self._calls[key]


async def get_or_load_async(view, flights: AsyncSingleFlight, key, loader, ttl, negative_ttl, serializer,
                            deserializer):
    plan = _Plan(view, key, ttl, negative_ttl, serializer, deserializer)
    hit = plan.interpret(await view._call(plan.lookup(), None, READ))
    if hit is not _MISS:
        return hit

    async def load():
        value = loader()
        if inspect.isawaitable(value):
            value = await value
        command = plan.store(value)
        if command is not None:
            try:
                await view._call(command, None, WRITE)
            except RaftcacheError as e:
                log.warning("get_or_load could not cache %r: %r", plan.key, e)
        return plan.result(value)

    return await flights.do(plan.flight_key, load)


# ---------------------------------------------------------------- threads


class SingleFlight:
    """The thread version: the first thread runs the call, the others block on its outcome."""

    class _Call:
        __slots__ = ("done", "error", "result")

        def __init__(self) -> None:
            self.done = threading.Event()
            self.result = None
            self.error: BaseException | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[object, SingleFlight._Call] = {}

    def do(self, key, fn: Callable):
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = self._Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result
        try:
            call.result = fn()
            return call.result
        except BaseException as e:
            call.error = e
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()


def get_or_load_sync(view, flights: SingleFlight, key, loader, ttl, negative_ttl, serializer, deserializer):
    """`view` is a sync Client; the loader runs in the calling thread."""
    plan = _Plan(view, key, ttl, negative_ttl, serializer, deserializer)
    hit = plan.interpret(view._run(plan.lookup(), None, READ))
    if hit is not _MISS:
        return hit

    def load():
        value = loader()
        command = plan.store(value)
        if command is not None:
            try:
                view._run(command, None, WRITE)
            except RaftcacheError as e:
                log.warning("get_or_load could not cache %r: %r", plan.key, e)
        return plan.result(value)

    return flights.do(plan.flight_key, load)
