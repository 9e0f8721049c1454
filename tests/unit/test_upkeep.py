"""The node's upkeep loops (node/service/upkeep.py): a round that fails, wherever it fails,
is logged and the next round runs, and cancelling a loop ends it; a new term resets the leader's
evictor once, again until that worked (GroupCommit.note_leading), and a reset that fails loses
no write."""

from __future__ import annotations

import asyncio
import logging
import random
from types import SimpleNamespace

import pytest

from raftcache.node import commands
from raftcache.node.errors import UnavailableError
from raftcache.node.service.group_commit import GroupCommit
from raftcache.node.service.upkeep import Upkeep
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_service import run, service_on_fake_raft


async def _rounds_until(loop_task: asyncio.Task, calls: list, wanted: int, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(calls) < wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{len(calls)} rounds, wanted {wanted}"
        await asyncio.sleep(0.001)
    loop_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(loop_task, 2)


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
    # a bug is an error with its traceback (and the next round that works says so); no leader
    # or quorum is only noted
    if isinstance(failure, UnavailableError):
        assert [r.levelno for r in logged] == [logging.DEBUG]
    else:
        assert [r.levelno for r in logged] == [logging.ERROR, logging.WARNING]
        assert logged[0].exc_info is not None


def _report_lines(fails_at, rounds: int, caplog) -> list[tuple[int, str]]:
    """Run `rounds` rounds of a loop whose n-th round (from 1) raises when fails_at(n), one
    second apart on the loop's clock; what it logged above DEBUG (level, message), once every
    failure not reported is checked to be a DEBUG line."""
    calls = []
    now = [0.0]

    async def one_round():
        calls.append(len(calls))
        now[0] += 1.0
        if fails_at(len(calls)):
            raise RuntimeError("a bug")

    async def main():
        task = asyncio.ensure_future(Upkeep._every(0.0005, one_round, "the test's round", clock=lambda: now[0]))
        await _rounds_until(task, calls, rounds)

    with caplog.at_level(logging.DEBUG, logger="raftcache.node.service.upkeep"):
        run(main())
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if "the test's round" in r.getMessage()]
    quiet = [line for line in logged if line[0] == logging.DEBUG]
    failures = sum(1 for n in range(1, len(calls) + 1) if fails_at(n))
    reports = sum(1 for level, _ in logged if level == logging.ERROR)
    assert quiet == [(logging.DEBUG, "the test's round failed")] * (failures - reports)   # each unreported one
    return [line for line in logged if line[0] != logging.DEBUG]


def test_a_round_that_keeps_failing_is_reported_once_a_minute_and_when_it_works_again(caplog):
    # 150 failures, rounds that work, 2 failures at 186-187 s, rounds that work
    logged = _report_lines(lambda n: n <= 150 or 185 < n <= 187, 190, caplog)
    assert logged == [(logging.ERROR, "the test's round failed"),                 # at 1 s
                      (logging.ERROR, "the test's round failed (59 more failed rounds since the last report)"),  # 61 s
                      (logging.ERROR, "the test's round failed (59 more failed rounds since the last report)"),  # 121 s
                      (logging.WARNING, "the test's round works again after 150 failed rounds"),
                      (logging.ERROR, "the test's round failed (29 more failed rounds since the last report)"),  # 186 s
                      (logging.WARNING, "the test's round works again after 2 failed rounds")]


def test_a_round_that_fails_every_other_time_is_reported_once_a_minute_too(caplog):
    logged = _report_lines(lambda n: n % 2 == 1, 130, caplog)
    assert logged == [(logging.ERROR, "the test's round failed"),                 # round 1, at 1 s
                      (logging.WARNING, "the test's round works again after 1 failed round"),
                      (logging.ERROR, "the test's round failed (29 more failed rounds since the last report)"),  # 61 s
                      (logging.WARNING, "the test's round works again after 1 failed round"),
                      (logging.ERROR, "the test's round failed (29 more failed rounds since the last report)"),  # 121 s
                      (logging.WARNING, "the test's round works again after 1 failed round")]


def test_cancelling_a_loop_ends_it_while_its_round_waits():
    entered = []

    async def one_round():
        entered.append(True)
        await asyncio.sleep(60)   # a proposal waiting for its commit

    async def main():
        task = asyncio.ensure_future(Upkeep._every(0.001, one_round, "the test's round"))
        deadline = asyncio.get_running_loop().time() + 5
        while not entered:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)

    run(main())


class _Evictor:
    """The leader's evictor, as far as a new term is concerned: began_leading fails `failures` times."""

    def __init__(self, failures: int):
        self.failures = failures
        self.resets = 0

    def began_leading(self) -> None:
        self.resets += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("began_leading failed")


def _commits(evictor) -> tuple[GroupCommit, SimpleNamespace]:
    raft = SimpleNamespace(term=1, is_leader=True)
    return GroupCommit(None, raft, None, None, evictor, random.Random(1), {}), raft


def test_a_new_term_resets_the_evictor_once_and_again_until_that_worked():
    evictor = _Evictor(failures=1)
    commits, raft = _commits(evictor)
    with pytest.raises(RuntimeError):
        commits.note_leading()
    commits.note_leading()            # tried again: the first reset failed
    commits.note_leading()            # done for this term
    assert evictor.resets == 2
    raft.term = 2
    commits.note_leading()
    assert evictor.resets == 3


def test_the_eviction_round_resets_the_evictor_of_each_term_it_leads():
    evictor = _Evictor(failures=1)
    commits, raft = _commits(evictor)
    statemachine = SimpleNamespace(log_version=commands.EVICTION_VERSION - 1)   # the round stops after the reset
    upkeep = Upkeep(SimpleNamespace(), statemachine, raft, None, commits, evictor, None, lambda: None)
    with pytest.raises(RuntimeError):   # (_every logs it)
        run(upkeep._eviction_round())
    run(upkeep._eviction_round())
    run(upkeep._eviction_round())
    assert evictor.resets == 2
    raft.is_leader = False
    run(upkeep._eviction_round())
    raft.term, raft.is_leader = 3, True   # leadership lost and won again between two rounds
    run(upkeep._eviction_round())
    assert evictor.resets == 3


@pytest.fixture
def service(tmp_path):
    service, _, _, keyspace = service_on_fake_raft(tmp_path)
    yield service
    keyspace.close()


def test_a_write_is_answered_when_the_new_term_reset_fails(service):
    service._evictor.began_leading = _Evictor(failures=1000).began_leading

    async def go():
        service.attach(asyncio.get_running_loop())
        result, index = await asyncio.wait_for(service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v"))), 5)
        assert (result, index) == (commands.OK, 1)

    run(go())
