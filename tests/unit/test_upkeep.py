"""The node's upkeep loops (node/service/upkeep.py): a round that fails, wherever it fails,
is logged and the next round runs; the eviction round tells the group commit a new term began
until that worked once."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from raftcache.node import commands
from raftcache.node.errors import UnavailableError
from raftcache.node.service.upkeep import Upkeep


def run(coro):
    return asyncio.run(coro)


async def _rounds_until(loop_task: asyncio.Task, calls: list, wanted: int, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(calls) < wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{len(calls)} rounds, wanted {wanted}"
        await asyncio.sleep(0.001)
    loop_task.cancel()
    await asyncio.gather(loop_task, return_exceptions=True)


@pytest.mark.parametrize("failure", [RuntimeError("a bug"), UnavailableError("no quorum")])
def test_a_round_that_raises_does_not_end_its_loop(failure, caplog):
    calls = []

    async def one_round():
        calls.append(len(calls))
        if len(calls) == 1:
            raise failure

    async def main():
        task = asyncio.ensure_future(Upkeep._every(0.001, one_round, "the test's round"))
        await _rounds_until(task, calls, 3)

    with caplog.at_level(logging.DEBUG, logger="raftcache.node.service.upkeep"):
        run(main())
    assert len(calls) >= 3
    logged = [r for r in caplog.records if "the test's round" in r.getMessage()]
    assert len(logged) == 1
    # a bug is an error with its traceback; no leader or quorum is only noted
    assert logged[0].levelno == (logging.DEBUG if isinstance(failure, UnavailableError) else logging.ERROR)


class _Commits:
    def __init__(self, failures: int):
        self.failures = failures
        self.noted = 0

    def note_leading(self) -> None:
        self.noted += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("began_leading failed")


def _upkeep(commits, leader=True):
    raft = SimpleNamespace(is_leader=leader)
    statemachine = SimpleNamespace(log_version=commands.EVICTION_VERSION - 1)   # the round stops after noting
    return Upkeep(SimpleNamespace(), statemachine, raft, None, commits, None, None, lambda: None), raft


def test_the_eviction_round_notes_a_new_term_again_until_that_worked():
    commits = _Commits(failures=1)
    upkeep, raft = _upkeep(commits)
    with pytest.raises(RuntimeError):
        run(upkeep._eviction_round())
    run(upkeep._eviction_round())     # tried again: the first attempt failed
    run(upkeep._eviction_round())     # done once: not again while it leads
    assert commits.noted == 2
    raft.is_leader = False
    run(upkeep._eviction_round())
    raft.is_leader = True
    run(upkeep._eviction_round())     # leading anew: noted again
    assert commits.noted == 3
