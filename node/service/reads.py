"""The read path (docs/consistency.md): every level is "read the local copy once its applied index reaches a target".

The target of a read is the highest of

* the connection's *floor*: the index of its newest write (read-your-writes
  on whichever node serves it; front ends pass it, Service.execute returns
  the indexes they keep);
* per level: `any` nothing more; `min_index:n` n; `linearizable` the
  leader's ReadIndex (node/raft/readindex.py: its commit index once a
  heartbeat round confirmed it still leads); `lease` the same index answered
  from the leader's lease, without a round; `bounded:<ms>` on a follower, the
  index of the newest freshness proof when it is at most <ms> old (a lease
  ReadIndex answer obtained at time t covers every write acknowledged before
  t), else a new proof; on the leader as `lease`.

Every read waiting at the same moment on a node shares one ReadIndex request
(SharedRounds; ASK_WINDOW, or ASK_WINDOW_AT_ONCE, requests in flight per kind):
on the leader one heartbeat round, on a follower one message to the leader over
the Raft connection (answered at once with three voters, node/raft/readindex.py),
whose answer is applied locally before the reads go on. Nothing
is written to the log for a read. The read itself is sent to the leader
(Internal.Forward) only when the leader is of an older release, without
ReadIndex, when this node cannot apply (it waits for an upgrade), or when
this node lags: its target not applied within LAG_FORWARD_S (a loaded or
cut-off replica), the leader serves the read at `min_index:<target>`
instead of the reader waiting out the request timeout.

Must not touch: the log (reads never propose), protocol parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Awaitable, Callable, ContextManager

from raftcache.node.consistency import ReadConsistency
from raftcache.node.errors import DeadlineError, NotLeaderError, ReadIndexUnsupported, UnavailableError

log = logging.getLogger(__name__)

_LEASE = ReadConsistency("lease")
#: ReadIndex requests a node keeps in flight per kind; reads arriving meanwhile share the next one.
#: A request that takes a heartbeat round (the leader's own, a follower's with four or more
#: voters): two, so a read arriving during one waits less. A follower's request that the leader
#: answers at once (three voters, node/raft/readindex.py): one, since fewer, larger requests cost
#: a busy follower less (+10 % GET -P 1 at 50 clients, no change at -P 16 or with 8 clients;
#: docs/performance-log.md).
ASK_WINDOW = 2
ASK_WINDOW_AT_ONCE = 1
#: How long a read waits for this node to apply its target before the leader serves it.
LAG_FORWARD_S = 1.0


class Parked:
    """What a caller whose GETs joined a read round (Reads.start_get) keeps as its task meanwhile:
    never done, and cancelling it does nothing (the caller ignores the answer instead)."""

    __slots__ = ()

    def done(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False


class SharedRounds:
    """Many waiters, one call of `fetch`: waiters arriving while `window()` calls are in flight
    (None: no limit, but one call per event-loop turn; asked when a call starts, not on every
    waiter's join) share the next call. `fetch(callback)` calls `callback(index, error)` once
    on the loop, with no task; then, unless `ready(index)` says there is nothing to wait for,
    `after(index)` runs in a task (e.g. wait until this node applied it) before the waiters
    get the index. The call's slot is free again as soon as `fetch` answers. An error of
    either goes to every waiter of that call."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fetch: Callable[[Callable[[int, Exception | None], None]], None],
                 after: Callable[[int], Awaitable[None]] | None = None, ready: Callable[[int], bool] | None = None,
                 window: Callable[[], int] | None = None,
                 together: Callable[[], ContextManager] = contextlib.nullcontext):
        self._loop = loop
        self._fetch = fetch
        self._after = after
        self._ready = ready
        self._window = window
        self._together = together   # around answering a call's waiters (their reads share one view)
        self.waiting: list = []   # futures and join_callback callbacks of the next call (empty: none joined yet)
        self._in_flight = 0
        self._limit = 1   # window() when the last call started: the calls that may be in flight
        self._scheduled = False
        self._batch: list | None = None   # `batch`'s list of the next call
        self.calls = 0

    def join(self) -> asyncio.Future:
        """A future of the index of the next call."""
        fut = self._loop.create_future()
        self.waiting.append(fut)
        self._schedule()
        return fut

    def join_callback(self, callback: Callable[[int, Exception | None], None]) -> None:
        """`callback(index, error)` once the next call (and `after`) finished: called from
        the round's own completion, in the same loop turn as every other waiter (a future
        per waiter costs a loop turn for each of its callbacks)."""
        self.waiting.append(callback)
        self._schedule()

    def batch(self, answer: Callable[[list, int, Exception | None], None]) -> list:
        """A list shared by whatever joins the next call this way: the first to join makes it
        and joins `answer(list, index, error)` as that call's waiter (one callback for them all)."""
        if self._batch is None:
            self._batch = []
            self.join_callback(functools.partial(answer, self._batch))
        return self._batch

    def _schedule(self) -> None:
        if not self._scheduled and self.waiting and (self._window is None or self._in_flight < self._limit
                                                     or not self._in_flight):
            self._scheduled = True
            self._loop.call_soon(self._start)  # after this loop turn's reads joined

    def _start(self) -> None:
        self._scheduled = False
        waiters, self.waiting = self.waiting, []
        self._batch = None
        self._in_flight += 1
        if self._window is not None:
            self._limit = self._window()
        self.calls += 1
        answered = False

        def fetched(index: int, error: Exception | None) -> None:   # once, whatever fetch does
            nonlocal answered
            if not answered:
                answered = True
                self._fetched(waiters, index, error)
        try:
            self._fetch(fetched)
        except Exception as e:  # noqa: BLE001 - the call's outcome, for every waiter
            fetched(0, e)

    def _fetched(self, waiters: list, index: int, error: Exception | None) -> None:
        """fetch's outcome: the waiters are answered here when `after` has nothing to wait for
        (the common case: no task), else by a task that waits. Never raises."""
        try:
            self._in_flight -= 1
            self._schedule()
            if error is not None:
                _answer(waiters, 0, error)
            elif self._after is None or (self._ready is not None and self._ready(index)):
                with self._together():
                    _answer(waiters, index, None)
            else:
                asyncio.ensure_future(self._answer_after(waiters, index))
        except Exception as e:  # noqa: BLE001 - a bug here must not strand the waiters
            log.exception("answering a shared read round failed")
            _answer(waiters, 0, e)

    async def _answer_after(self, waiters: list, index: int) -> None:
        try:
            await self._after(index)
        except Exception as e:  # noqa: BLE001 - the call's outcome, for every waiter
            _answer(waiters, 0, e)
            return
        with self._together():
            _answer(waiters, index, None)


class Reads:
    """One node's read path (module docstring). Service owns one; `attach` binds it to the loop."""

    def __init__(self, node_id: str, raft, local_read: Callable, timeout_s: float, stats: dict,
                 reads_together: Callable[[], ContextManager] = contextlib.nullcontext,
                 read_gets: Callable[[list[tuple[int, list[bytes]]]], list] | None = None):
        self._reads_together = reads_together   # the keyspace's: a round's reads share one transaction
        # start_get's reads: [(db, keys), …] -> each one's values, or None (not readable here now)
        self._read_gets = read_gets
        self._node_id = node_id
        self._raft = raft
        self._local_read = local_read
        self._timeout_s = timeout_s
        self._stats = stats
        self.forwarder = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher = None
        self._completions = None
        self._rounds: dict[bool, SharedRounds] = {}   # lease? -> the shared ReadIndex requests
        # (loop time before asking, index): applying `index` gives a state that holds
        # every write acknowledged before that time (the proof of `bounded` reads)
        self._freshness: tuple[float, int] = (float("-inf"), 0)

    def attach(self, loop: asyncio.AbstractEventLoop, watcher, completions) -> None:
        self._loop, self._watcher, self._completions = loop, watcher, completions
        self._rounds = {lease: SharedRounds(loop, functools.partial(self._read_index, lease), self.catch_up,
                                            ready=self._applied, window=self._ask_window,
                                            together=self._reads_together)
                        for lease in (False, True)}

    def _ask_window(self) -> int:
        """How many ReadIndex requests of a kind this node keeps in flight (ASK_WINDOW)."""
        return ASK_WINDOW_AT_ONCE if self._raft.read_index_at_once else ASK_WINDOW

    # ------------------------------------------------------------ entry points

    def servable_now(self, consistency: ReadConsistency, floor: int) -> bool:
        """A read at `consistency` (a level, never the default) may be served locally right now."""
        level = consistency.level
        if level == "linearizable":
            return False
        raft = self._raft
        applied = raft.applied_index
        if applied < floor:
            return False
        if level == "any":
            return True
        if level == "min_index":
            return applied >= consistency.min_index
        if raft.is_leader:  # lease, or bounded: the lease's index
            index = raft.lease_read_index()
            return index is not None and applied >= index
        if level == "bounded":
            sent, index = self._freshness
            return applied >= index and self._loop.time() - sent <= consistency.bound_ms / 1000.0
        return False

    async def read(self, command, consistency: ReadConsistency, floor: int, forward: bool) -> tuple[object, int]:
        """Serve a read at `consistency` (a level, never the default); see the module docstring.
        `forward=False` (a request another node forwarded): answer here or raise NotLeaderError."""
        level = consistency.level
        if level == "min_index":
            floor = max(floor, consistency.min_index)
        elif level != "any":
            if forward and self._raft.apply_blocked:  # this node cannot catch up (it needs an upgrade)
                return await self._forward_read(command, consistency)
            try:
                floor = max(floor, await self.target(consistency, forward))
            except ReadIndexUnsupported:
                return await self._forward_read(command, consistency)
        if self._raft.applied_index < floor:
            if not forward or self.forwarder is None or self._timeout_s <= LAG_FORWARD_S:
                await self.catch_up(floor)
            else:
                try:
                    await self._watcher.wait(floor, LAG_FORWARD_S)
                except DeadlineError:
                    if self._raft.leader_id in (None, self._node_id):
                        await self._watcher.wait(floor, self._timeout_s - LAG_FORWARD_S)
                    else:   # this replica lags: the leader serves it once it applied the target
                        return await self._forward_read(command, ReadConsistency("min_index", min_index=floor))
        return self._local_read(command)

    def start(self, command, consistency: ReadConsistency, floor: int) -> asyncio.Future:
        """`read` without a task per read on the common paths: a future of (result, index).
        A linearizable or lease read joins the shared round (or takes the lease's index)
        and is served from the round's callback; anything else (no leader yet, an error
        to retry, a floor not applied yet, other levels) runs `read` as a task."""
        loop = self._loop
        if self.servable_now(consistency, floor):
            fut = loop.create_future()
            self._settle_local(fut, command)
            return fut
        shared = None
        if consistency.level in ("linearizable", "lease") and not self._raft.apply_blocked:
            shared = self._shared_target(consistency.level == "lease")
        if shared is None:
            return asyncio.ensure_future(self.read(command, consistency, floor, forward=True))
        fut = loop.create_future()
        shared.add_done_callback(functools.partial(self._after_target, fut, command, consistency, floor))
        return fut

    def start_get(self, consistency: ReadConsistency, floor: int, db: int, keys: list[bytes],
                  done: Callable[[object], None]) -> bool:
        """GETs of `keys` in `db` at a linearizable or lease level that join this moment's shared
        round with no future, task, Command or callback object of their own (the Redis port's
        GETs): the round's GETs are kept in one list, served in one pass once the round's index
        is applied here (_serve_gets), where `done((values,))` is called for each, in one loop
        turn; `done(None)` when the outcome must come from the ordinary path instead (an error
        to retry, a floor not applied, the values not readable here now). True when they joined;
        False when they do not take this path (another level, no leader, a lease or floor at
        hand: `start` decides). There is nothing to cancel: a caller that gave up ignores `done`."""
        level = consistency.level
        if (level != "linearizable" and level != "lease") or self._raft.apply_blocked:
            return False
        lease = level == "lease"
        rounds = self._rounds[lease]
        if not rounds.waiting:   # the first read to join the next round checks the roles; the others join it
            # (should the leader change before the round asks, the round fails or asks the new
            # one, and a failed round's reads take the ordinary path)
            raft = self._raft
            if raft.is_leader:
                if lease:
                    return False   # the lease's index: servable_now, or `start`
            elif raft.leader_id in (None, self._node_id):
                return False
        rounds.batch(self._serve_gets).append((floor, db, keys, done))
        return True

    def _serve_gets(self, gets: list, index: int, error: Exception | None) -> None:
        """A round's GETs (start_get, SharedRounds.batch), once the round answered: those whose
        floor this node applied, with the round's index, read together (`read_gets`), the others
        left to the ordinary path."""
        joined_gets, gets = gets, list(gets)
        joined_gets.clear()   # answered once, should the round report twice
        answers: list = [None] * len(gets)
        applied = self._raft.applied_index
        if error is None and applied >= index:
            ready = [i for i, get in enumerate(gets) if applied >= get[0]]
            if ready:
                try:
                    got = self._read_gets([gets[i][1:3] for i in ready])
                except Exception:  # noqa: BLE001 - the ordinary path answers them (and reports the bug)
                    log.exception("reading a read round's GETs failed")
                    got = ()
                for i, values in zip(ready, got):
                    answers[i] = values
        for get, values in zip(gets, answers):
            try:
                get[3](None if values is None else (values,))   # None: not readable here now
            except Exception:  # noqa: BLE001 - one GET's failure is not the others'
                log.exception("answering a GET of a read round failed")

    def _shared_target(self, lease: bool) -> asyncio.Future | None:
        """A future of this moment's read index when one is at hand without waiting for a leader."""
        raft = self._raft
        if raft.is_leader:
            index = raft.lease_read_index() if lease else None
            if index is not None:
                done = self._loop.create_future()
                done.set_result(index)
                return done
        elif raft.leader_id in (None, self._node_id):
            return None
        return self._rounds[lease].join()

    def _after_target(self, fut: asyncio.Future, command, consistency: ReadConsistency, floor: int,
                      target: asyncio.Future) -> None:
        if fut.done():  # the caller gave up
            return
        if target.exception() is None and self._raft.applied_index >= max(floor, target.result()):
            self._settle_local(fut, command)
            return
        # an error (leadership moved, an older leader…) or an index not applied yet: the full path
        task = asyncio.ensure_future(self.read(command, consistency, max(floor, target.result())
                                               if target.exception() is None else floor, forward=True))
        task.add_done_callback(functools.partial(_copy_outcome, fut))

    def _settle_local(self, fut: asyncio.Future, command) -> None:
        try:
            fut.set_result(self._local_read(command))
        except Exception as e:  # noqa: BLE001 - the read's outcome, for the caller
            fut.set_exception(e)

    async def catch_up(self, index: int) -> None:
        """Wait (up to the request timeout) until this node applied `index`; DeadlineError if not."""
        if self._raft.applied_index < index:
            await self._watcher.wait(index, self._timeout_s)

    async def target(self, consistency: ReadConsistency, forward: bool = True) -> int:
        """The index a read at `consistency` must find applied here (lease, bounded, linearizable).

        Waits for a leader up to the request timeout. Raises UnavailableError (no leader, or
        leadership not confirmed in time), NotLeaderError (forward=False, not the leader) or
        ReadIndexUnsupported (the leader is of an older release).
        """
        raft = self._raft
        lease = consistency.level != "linearizable"
        if consistency.level == "bounded" and forward and not raft.is_leader:
            return await self._proof_within(consistency.bound_ms / 1000.0)
        deadline = self._loop.time() + self._timeout_s
        last: Exception | None = None
        while True:
            leader = raft.is_leader
            if not leader and not forward:
                raise NotLeaderError("not the leader")
            index = raft.lease_read_index() if leader and lease else None
            if index is not None:
                return index
            if leader or raft.leader_id not in (None, self._node_id):
                try:
                    return await self._rounds[lease].join()
                except ReadIndexUnsupported:
                    raise
                except NotLeaderError as e:
                    if not forward:
                        raise
                    last = e  # the leader changed: ask the next one
                except (UnavailableError, DeadlineError) as e:
                    last = e  # no answer in time, or this node did not catch up: again, within the deadline
            if self._loop.time() >= deadline:
                why = f" ({last.message})" if last is not None else ""
                raise UnavailableError(f"no leader could confirm the read in time{why}; retry")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------ the index

    def _read_index(self, lease: bool, callback: Callable[[int, Exception | None], None]) -> None:
        """One ReadIndex request for every read waiting (Replicator.read_index): a heartbeat
        round on the leader, a message to the leader on a follower; `callback(index, error)`
        in a later turn of the loop, never inside Raft's own code (its tick, a message's
        handling), which the reads it answers must not hold up or break."""
        self._stats["read_index_requests"] += 1
        self._raft.read_index(functools.partial(self._completions.put, _index_soon, (self._loop, callback)),
                              self._timeout_s, lease)

    def _applied(self, index: int) -> bool:
        """Nothing to wait for before reading at `index` here (SharedRounds' `ready`)."""
        return self._raft.applied_index >= index

    async def _proof_within(self, bound_s: float) -> int:
        """A follower's `bounded` target: the newest proof's index if it is at most `bound_s`
        old, else a new proof (a lease ReadIndex, shared with lease reads). Waiting for the
        index to be applied only makes the read fresher, so it cannot break the bound."""
        sent, index = self._freshness
        if self._loop.time() - sent <= bound_s:
            return index
        sent = self._loop.time()
        index = await self.target(_LEASE)
        if sent > self._freshness[0]:
            self._freshness = (sent, index)
        return index

    async def _forward_read(self, command, consistency: ReadConsistency) -> tuple[object, int]:
        """The leader serves the read itself (an older leader, this node cannot apply, or it lags)."""
        leader = self._raft.leader_id
        if leader is None or self.forwarder is None:
            raise UnavailableError("no leader to serve the read; retry")
        self._stats["forwarded"] += 1
        return await self.forwarder.forward(leader, command, consistency, "", 0)


def _answer(waiters: list, index: int, error: Exception | None) -> None:
    """A round's outcome to its waiters: futures, and callbacks called here and now."""
    for waiter in waiters:
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                if error is None:
                    waiter.set_result(index)
                else:
                    waiter.set_exception(error)
            continue
        try:
            waiter(index, error)
        except Exception:  # noqa: BLE001 - one waiter's failure is not the others'
            log.exception("a read waiting for a read index failed")


def _index_soon(target: tuple, _result, index: int, error) -> None:
    """A ReadIndex outcome (Completions' settle signature): `callback(index, error)` called
    soon on `loop` (target = (loop, callback))."""
    loop, callback = target
    loop.call_soon(callback, index, error)


def _copy_outcome(fut: asyncio.Future, task: asyncio.Future) -> None:
    if fut.done():
        return
    if task.cancelled():
        fut.cancel()
    elif task.exception() is not None:
        fut.set_exception(task.exception())
    else:
        fut.set_result(task.result())
