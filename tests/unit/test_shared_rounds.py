"""SharedRounds (node/service/reads.py): many waiters, one ReadIndex call, answered from the
call's callback without a task; every waiter answered once whatever the call or a waiter does."""

from __future__ import annotations

import asyncio
import contextlib

from raftcache.node.service.reads import SharedRounds


def run(body):
    async def main():
        return await body(asyncio.get_running_loop())
    return asyncio.run(main())


async def settled(turns: int = 5):
    """Let the loop run the calls scheduled so far."""
    for _ in range(turns):
        await asyncio.sleep(0)


def test_waiters_share_one_call_and_get_its_index_once_applied():
    async def body(loop):
        calls, applied = [], [5]
        rounds = SharedRounds(loop, lambda cb: calls.append(cb), after=lambda index: asyncio.sleep(0),
                              ready=lambda index: applied[0] >= index)
        got = []
        for n in range(3):
            rounds.join_callback(lambda index, error, n=n: got.append((n, index, error)))
        await settled()
        assert len(calls) == 1 and got == []
        calls[0](4, None)   # applied here already: answered in the callback itself
        assert got == [(0, 4, None), (1, 4, None), (2, 4, None)]
        fut = rounds.join()
        await settled()
        calls[1](9, None)   # not applied yet: a task waits (`after`), then answers
        assert not fut.done()
        await settled()
        assert fut.result() == 9
    run(body)


def test_a_call_that_answers_and_then_raises_answers_its_waiters_once():
    async def body(loop):
        def fetch(callback):
            callback(0, RuntimeError("no leader"))
            raise RuntimeError("and then a bug")
        rounds = SharedRounds(loop, fetch)
        got = []
        rounds.join_callback(lambda index, error: got.append(str(error)))
        await settled()
        assert got == ["no leader"] and rounds._in_flight == 0
    run(body)


def test_a_failing_waiter_or_view_does_not_strand_the_others():
    async def body(loop):
        calls = []

        @contextlib.contextmanager
        def broken_view():
            raise OSError("the shared read transaction could not open")
            yield

        rounds = SharedRounds(loop, lambda cb: calls.append(cb), window=lambda: 1)
        got = []
        rounds.join_callback(lambda index, error: 1 / 0)
        rounds.join_callback(lambda index, error: got.append((index, error)))
        await settled()
        calls[0](3, None)
        assert got == [(3, None)], "the first waiter's failure is its own"
        rounds = SharedRounds(loop, lambda cb: calls.append(cb), together=broken_view)
        rounds.join_callback(lambda index, error: got.append((index, type(error).__name__)))
        await settled()
        calls[-1](3, None)   # must not raise into the caller (Raft's code, or the loop)
        assert got[-1] == (0, "OSError") and rounds._in_flight == 0
    run(body)
