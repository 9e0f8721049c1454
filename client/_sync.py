"""Client: the blocking client, derived from AsyncClient.

A Client owns a private event loop running on a daemon thread and an
AsyncClient bound to it; each typed method submits the AsyncClient's
coroutine to that loop and blocks for its result. So there is one
implementation of routing, retries and replies (client/_async.py and
client/_engine.py), and the two clients cannot drift. A Client may be
used from many threads at once; their calls run concurrently on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator

from raftcache.client import cache_aside
from raftcache.client._async import AsyncClient, AsyncPipeline, Commands
from raftcache.client.admin import Admin
from raftcache.client.options import ClientOptions, ReadLevel
from raftcache.client.pubsub import BlockingSubscription
from raftcache.client.transport import Transport, ignore_poller_noise


class _LoopThread:
    """An event loop on its own daemon thread; `run(coro)` blocks the caller until it finishes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ignore_poller_noise(self.loop)
        self._thread = threading.Thread(target=self._main, name="raftcache-client", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro):
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync Client was called from its own event loop; use AsyncClient there")
        if self.loop.is_closed():
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: stop the call too
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Client(Commands):
    """A blocking client for a raftcache cluster; same options and methods as AsyncClient.

    `Client(["10.0.0.1:7000"], zone="a")`; use `with Client(...) as c:` or `c.close()`.
    """

    def __init__(self, seeds: Iterable[str] | str = (), *, transport: Transport | None = None,
                 options: ClientOptions | None = None, **kwargs):
        self._runner = _LoopThread()
        self._bind(AsyncClient(seeds, transport=transport, options=options, **kwargs))
        self._flights = cache_aside.SingleFlight()

    def _bind(self, view: AsyncClient) -> Client:
        self._async = view
        self._db = view._db
        self._encoding = view._encoding
        self._decode_responses = view._decode_responses
        return self

    def _wrap(self, view: AsyncClient) -> Client:
        other = object.__new__(Client)
        other._runner = self._runner
        other._flights = self._flights
        return other._bind(view)

    def _run(self, command, post, read: bool):
        return self._runner.run(self._async._call(command, post, read))

    # ------------------------------------------------------------ views (see AsyncClient)

    def session(self, read_consistency: str | ReadLevel | None = None) -> Client:
        """A read-your-writes view (see AsyncClient.session)."""
        return self._wrap(self._async.session(read_consistency))

    def reading(self, read_consistency: str | ReadLevel) -> Client:
        return self._wrap(self._async.reading(read_consistency))

    def using_db(self, db: int) -> Client:
        return self._wrap(self._async.using_db(db))

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self._runner, self._async.pipeline(transaction))

    client_id = property(lambda self: self._async.client_id)
    last_index = property(lambda self: self._async.last_index)
    topology = property(lambda self: self._async.topology)
    shards = property(lambda self: self._async.shards)

    @property
    def admin(self) -> Admin:
        """Operator calls, blocking (see AsyncClient.admin and client/admin.py)."""
        return Admin(self._runner, self._async.admin)

    # ------------------------------------------------------------ helpers

    def get_or_load(self, key, loader: Callable, ttl=None, *, negative_ttl=None,
                    serializer: Callable | None = None, deserializer: Callable | None = None):
        """Cache-aside (see AsyncClient.get_or_load); `loader()` runs in the calling thread."""
        return cache_aside.get_or_load_sync(self, self._flights, key, loader, ttl, negative_ttl,
                                            serializer, deserializer)

    def _iter(self, scan, *args, **kwargs) -> Iterator:
        cursor = 0
        while True:
            cursor, items = scan(*args, cursor=cursor, **kwargs)
            yield from (items.items() if isinstance(items, dict) else items)
            if cursor == 0:
                return

    def subscribe(self, *channels, patterns=(), shard_channels=()) -> BlockingSubscription:
        """`for message in client.subscribe("news")`: see AsyncClient.subscribe; `get(timeout_s)`
        waits at most that long for the next message."""
        return BlockingSubscription(self._runner, self._runner.run(self._async.subscribe(
            *channels, patterns=patterns, shard_channels=shard_channels)))

    def scan_iter(self, match=None, count: int | None = None, _type: str | None = None) -> Iterator:
        return self._iter(self.scan, match=match, count=count, _type=_type)

    def hscan_iter(self, name, match=None, count: int | None = None, no_values: bool = False) -> Iterator:
        return self._iter(self.hscan, name, match=match, count=count, no_values=no_values)

    def sscan_iter(self, name, match=None, count: int | None = None) -> Iterator:
        return self._iter(self.sscan, name, match=match, count=count)

    def zscan_iter(self, name, match=None, count: int | None = None, score_cast_func=float) -> Iterator:
        return self._iter(self.zscan, name, match=match, count=count, score_cast_func=score_cast_func)

    def near_cache_stats(self):
        """Hits, misses, invalidations and size of the near cache (None when it is off)."""
        return self._async.near_cache_stats()

    def ping(self) -> bool:
        return self._runner.run(self._async.ping())

    def cluster_status(self, address: str | None = None):
        return self._runner.run(self._async.cluster_status(address))

    def refresh_topology(self) -> None:
        self._runner.run(self._async.refresh_topology())

    def close(self) -> None:
        """Close the channels and stop the private loop (views share them: closing one closes all)."""
        if not self._runner.loop.is_closed():
            try:
                self._runner.run(self._async.aclose())
            finally:
                self._runner.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Pipeline(Commands):
    """The blocking face of AsyncPipeline: methods queue and return the pipeline; execute() sends."""

    def __init__(self, runner: _LoopThread, pipe: AsyncPipeline):
        self._runner = runner
        self._pipe = pipe
        self._db = pipe._db
        self._encoding = pipe._encoding
        self._decode_responses = pipe._decode_responses

    def _run(self, command, post, read: bool):
        self._pipe._run(command, post, read)
        return self

    def __len__(self) -> int:
        return len(self._pipe)

    def reset(self) -> None:
        self._pipe.reset()

    def execute(self, raise_on_error: bool = True) -> list:
        return self._runner.run(self._pipe.execute(raise_on_error))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.reset()
