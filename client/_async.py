"""AsyncClient: the asyncio client, and its views (sessions, read levels) and pipelines.

The one implementation: the sync Client (client/_sync.py) runs this on a
private event loop. Typed methods come from client/commands*.py; here
`_run` turns each into a coroutine that goes through the Engine (routing,
retries, write identity). A view (`session()`, `reading()`) shares the
engine and differs only in how reads are sent.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterable

from raftcache.client import cache_aside
from raftcache.client._engine import Engine
from raftcache.client.admin import AsyncAdmin
from raftcache.client.commands import StringCommands, to_python
from raftcache.client.commands_containers import ContainerCommands
from raftcache.client.errors import RaftcacheError
from raftcache.client.options import ClientOptions, ReadLevel
from raftcache.client.near_cache import MISS, NearCacheStats
from raftcache.commandkeys import command_keys
from raftcache.client.pubsub import Subscription
from raftcache.client.transport import Transport
from raftcache.proto import commands_pb2 as pb


class Commands(StringCommands, ContainerCommands):
    """Every typed command; subclasses define `_run`."""


class _Session:
    """Read-your-writes state: the highest index this session wrote or read at."""

    __slots__ = ("index",)

    def __init__(self) -> None:
        self.index = 0

    def observe(self, index: int) -> None:
        self.index = max(self.index, index)


class AsyncClient(Commands):
    """An asyncio client for a raftcache cluster.

    `AsyncClient(["10.0.0.1:7000", "10.0.0.2:7010"], zone="a", read_consistency="any")`;
    every keyword is a `ClientOptions` field. Use `async with`, or `await client.aclose()`.
    """

    def __init__(self, seeds: Iterable[str] | str = (), *, transport: Transport | None = None,
                 options: ClientOptions | None = None, **kwargs):
        if options is None:
            options = ClientOptions(seeds=(seeds,) if isinstance(seeds, str) else tuple(seeds), **kwargs)
        elif kwargs or seeds:
            raise TypeError("pass either options= or seeds and keyword options, not both")
        self._engine = Engine(options, transport)
        self._level = ReadLevel.parse(options.read_consistency)
        self._db = options.db
        self._encoding = options.encoding
        self._decode_responses = options.decode_responses
        self._session: _Session | None = None

    def _view(self, **changes) -> AsyncClient:
        view = copy.copy(self)
        view.__dict__.update(changes)
        return view

    # ------------------------------------------------------------ execution

    def _run(self, command: pb.Command, post, read: bool):
        return self._call(command, post, read)

    def _read_level(self) -> ReadLevel:
        return self._level if self._session is None else self._level.with_min_index(self._session.index)

    async def _call(self, command: pb.Command, post, read: bool):
        cache = self._engine.near_cache
        if cache is not None:
            if read and command.WhichOneof("op") == "get":
                return await self._cached_get(cache, command, post)
            if not read:
                cache.drop(command_keys(command))
        reply = await self._engine.execute(command, read, self._read_level() if read else None)
        if cache is not None and not read:
            cache.wrote(command_keys(command), reply.index)
        if self._session is not None:
            self._session.observe(reply.index)
        value = to_python(reply.value)
        if isinstance(value, RaftcacheError):
            raise value
        return post(value) if post is not None else value

    async def _cached_get(self, cache, command: pb.Command, post):
        """GET through the near cache (client/near_cache.py)."""
        self._engine.follow_invalidations()
        db, key = command.db, command.get.key
        value = cache.get(db, key)
        if value is MISS:
            cache.begin(db, key)
            index = None
            try:
                level = self._read_level()
                if level.level in ("any", "min_index"):   # no older than what the stream told of
                    level = level.with_min_index(cache.seen)
                reply = await self._engine.execute(command, True, level)
                value, index = to_python(reply.value), reply.index
                if isinstance(value, RaftcacheError):
                    index = None
                    raise value
            finally:
                cache.end(db, key, value, index)
            if self._session is not None:
                self._session.observe(reply.index)
        return post(value) if post is not None else value

    def near_cache_stats(self) -> NearCacheStats | None:
        """Hits, misses, invalidations and size of the near cache (None when it is off)."""
        cache = self._engine.near_cache
        return None if cache is None else cache.snapshot_stats()

    # ------------------------------------------------------------ views

    def session(self, read_consistency: str | ReadLevel | None = None) -> AsyncClient:
        """A read-your-writes view: its reads carry min_index = the last index it wrote or read,
        so any replica (the nearest one) serves them once it has caught up with this session."""
        level = ReadLevel.parse(read_consistency) if read_consistency is not None else self._level
        return self._view(_session=_Session(), _level=level)

    def reading(self, read_consistency: str | ReadLevel) -> AsyncClient:
        """A view whose reads use `read_consistency` (e.g. "any", "bounded:500", "linearizable")."""
        return self._view(_level=ReadLevel.parse(read_consistency))

    def using_db(self, db: int) -> AsyncClient:
        """A view on numbered database `db`."""
        return self._view(_db=db)

    def pipeline(self, transaction: bool = True) -> AsyncPipeline:
        """Queue commands and send them in one round trip on `execute()`.

        transaction=True (redis-py's default) sends them as one MULTI/EXEC
        log entry, applied atomically; False sends a Cache.Pipeline batch.
        """
        return AsyncPipeline(self, transaction)

    @property
    def client_id(self) -> str:
        return self._engine.client_id

    @property
    def last_index(self) -> int:
        """The session's read-your-writes token (0 outside a session)."""
        return self._session.index if self._session is not None else 0

    # ------------------------------------------------------------ pub/sub

    async def subscribe(self, *channels, patterns: Iterable = (), shard_channels: Iterable = ()) -> Subscription:
        """`sub = await client.subscribe("news", patterns=["orders.*"])`, then `async for message in sub`:
        the messages published through any node, from the nearest node, once this returns (the
        subscription is in place); moves to another node (and subscribes again) when its node
        fails. See raftcache.client.pubsub."""
        subscription = Subscription(self._engine, self._encs(channels), self._encs(patterns),
                                    self._encs(shard_channels))
        await subscription.open(self._engine.options.timeout_s)
        return subscription

    # ------------------------------------------------------------ helpers

    async def get_or_load(self, key, loader: Callable, ttl=None, *, negative_ttl=None,
                          serializer: Callable | None = None, deserializer: Callable | None = None):
        """Cache-aside: the cached value of `key`, or `loader()` (sync or async) stored with `ttl` seconds.

        Concurrent misses of one key in this process share one loader call. With
        `negative_ttl`, a loader result of None is remembered that long. The
        loader's exceptions propagate unchanged. See client/cache_aside.py.
        """
        flights = self._engine.flights.setdefault("async", cache_aside.AsyncSingleFlight())
        return await cache_aside.get_or_load_async(self, flights, key, loader, ttl, negative_ttl,
                                                   serializer, deserializer)

    async def _iter(self, scan, *args, **kwargs) -> AsyncIterator:
        cursor = 0
        while True:
            cursor, items = await scan(*args, cursor=cursor, **kwargs)
            for item in (items.items() if isinstance(items, dict) else items):
                yield item
            if cursor == 0:
                return

    def scan_iter(self, match=None, count: int | None = None, _type: str | None = None) -> AsyncIterator:
        return self._iter(self.scan, match=match, count=count, _type=_type)

    def hscan_iter(self, name, match=None, count: int | None = None, no_values: bool = False) -> AsyncIterator:
        return self._iter(self.hscan, name, match=match, count=count, no_values=no_values)

    def sscan_iter(self, name, match=None, count: int | None = None) -> AsyncIterator:
        return self._iter(self.sscan, name, match=match, count=count)

    def zscan_iter(self, name, match=None, count: int | None = None, score_cast_func=float) -> AsyncIterator:
        return self._iter(self.zscan, name, match=match, count=count, score_cast_func=score_cast_func)

    async def ping(self) -> bool:
        """True when a node answers Admin.Status (raises UnavailableError-family errors otherwise)."""
        await self._engine.status()
        return True

    async def cluster_status(self, address: str | None = None):
        """Admin.Status (a StatusReply) of `address`, or of the leader."""
        return await self._engine.status(address)

    async def refresh_topology(self) -> None:
        await self._engine.refresh(None)

    @property
    def topology(self):
        """The client's view of the cluster (members, zones, leader); see client/topology.py."""
        return self._engine.topology

    @property
    def shards(self):
        """On a sharded cluster, the slot map and each shard's topology (client/shards.py); else None."""
        return self._engine.shards

    @property
    def admin(self) -> AsyncAdmin:
        """Operator calls: status, topology, health, backup, membership, leadership (client/admin.py)."""
        return AsyncAdmin(self._engine)

    async def aclose(self) -> None:
        """Close every channel. Views share the engine: closing any closes them all."""
        await self._engine.close()

    close = aclose

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class AsyncPipeline(Commands):
    """Commands queued by the typed methods (which return the pipeline) and sent by `execute()`."""

    def __init__(self, client: AsyncClient, transaction: bool):
        self._client = client
        self._transaction = transaction
        self._db = client._db
        self._encoding = client._encoding
        self._decode_responses = client._decode_responses
        self._queue: list[tuple[pb.Command, object, bool]] = []

    def _run(self, command, post, read):
        self._queue.append((command, post, read))
        return self

    def __len__(self) -> int:
        return len(self._queue)

    def reset(self) -> None:
        self._queue.clear()

    async def execute(self, raise_on_error: bool = True) -> list:
        """Send the queued commands; their results in order (as the methods would return them).

        A command's error is raised (the first one) when raise_on_error, else
        left in its slot as the exception instance; the other commands ran.
        """
        queue, self._queue = self._queue, []
        if not queue:
            return []
        client, engine = self._client, self._client._engine
        if self._transaction:
            command = pb.Command(db=self._db, transaction={"commands": [c for c, _, _ in queue]})
            reply = await engine.execute(command, read=False)
            indexes = [reply.index]
            values = to_python(reply.value)
            if isinstance(values, RaftcacheError):
                raise values
            values = values if values is not None else [None] * len(queue)
        else:
            level = client._read_level()
            batch = await engine.execute_batch([(c, read, level if read else None) for c, _, read in queue])
            indexes = [r.index for r in batch.replies]
            values = [to_python(r.value) for r in batch.replies]
        if client._session is not None:
            client._session.observe(max(indexes))
        cache = engine.near_cache
        if cache is not None:   # read-your-writes through the near cache (NearCache.wrote)
            for (command, _, read), index in zip(queue, indexes * len(queue) if self._transaction else indexes):
                if not read:
                    cache.wrote(command_keys(command), index)
        results = []
        for (_, post, _), value in zip(queue, values):
            if not isinstance(value, RaftcacheError) and post is not None:
                value = post(value)
            results.append(value)
        if raise_on_error:
            for value in results:
                if isinstance(value, RaftcacheError):
                    raise value
        return results

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc) -> None:
        self.reset()
