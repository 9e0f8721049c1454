"""Replicators whose ticks run on an asyncio event loop (node/raft/loop_driver.py), real sockets.

Three `Replicator`s started with `on_loop=True` and attached to one event loop
in this process (so the whole cluster is one thread): they elect a leader,
replicate and apply every proposal in order on every node, on the loop's own
thread, and nodes working through a long apply backlog keep hearing the
leader (no election, the term does not move).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from raftcache.localcluster import free_base_port
from raftcache.node.config import Peer, ReplicationConfig
from raftcache.node.raft.replication import COMMIT_NOTICE_S, Replicator
from raftcache.node.raft.transfer import Transfer
from raftcache.node.errors import DeadlineError

SECRET = "test-secret"


class _Node:
    def __init__(self, peer: Peer, peers: list[Peer], data_dir: str, apply_delay_s: float = 0.0,
                 appendfsync: str = "everysec", heartbeat_s: float = 0.05, election_s: float = 0.4,
                 proposal_timeout_s: float = 60.0):
        self.entries: list[tuple[int, bytes]] = []
        self.threads: set[int] = set()
        self.applied = 0
        self.apply_delay_s = apply_delay_s
        config = ReplicationConfig(
            data_dir=data_dir, cluster_secret=SECRET, heartbeat_s=heartbeat_s, tick_s=0.02,
            election_timeout_min_s=election_s, election_timeout_max_s=2 * election_s, connection_retry_s=0.2,
            leader_fallback_s=2.5 * election_s, proposal_timeout_s=proposal_timeout_s, appendfsync=appendfsync)
        self.rep = Replicator(config, peer, peers, self._apply, self)

    def _apply(self, index: int, data: bytes):
        self.threads.add(threading.get_ident())
        if self.apply_delay_s and data.startswith(b"slow"):
            time.sleep(self.apply_delay_s)   # a long apply, as a large batch or a big key's write
        self.entries.append((index, data))
        self.applied = index
        return len(self.entries)

    # SnapshotHooks (no compaction happens in these tests)
    @property
    def applied_index(self) -> int:
        return self.applied

    def save(self, path: str) -> int:
        with open(path, "wb") as f:
            f.write(b"-")
        return self.applied

    def load(self, path: str) -> None:
        raise AssertionError("no snapshot install expected")


async def _until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _run_cluster(tmp_path, scenario, apply_delay_s: float = 0.0, appendfsync: str = "everysec",
                 heartbeat_s: float = 0.05, election_s: float = 0.4, proposal_timeout_s: float = 60.0):
    base = free_base_port(3)
    peers = [Peer(f"n{i + 1}", "z", "127.0.0.1", base + 10 * i) for i in range(3)]
    nodes = [_Node(p, peers, str(tmp_path / p.id), apply_delay_s, appendfsync, heartbeat_s, election_s,
                   proposal_timeout_s) for p in peers]
    for node in nodes:
        node.rep.start(on_loop=True)

    async def main():
        loop = asyncio.get_running_loop()
        for node in nodes:
            node.rep.attach_loop(loop)
        await _until(lambda: sum(n.rep.is_leader for n in nodes) == 1, 15, "a leader")
        await scenario(nodes)

    try:
        asyncio.run(main())
    finally:
        for node in nodes:
            node.rep.close()
    return nodes


async def _propose(rep: Replicator, data: bytes):
    fut = asyncio.get_running_loop().create_future()

    def done(result, index, error):
        fut.set_exception(error) if error is not None else fut.set_result((result, index))

    rep.propose(data, done)
    return await asyncio.wait_for(fut, 60)


def test_one_thread_elects_replicates_and_applies_in_order(tmp_path):
    loop_thread = threading.get_ident()

    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        results = await asyncio.gather(*(_propose(leader.rep, b"e%d" % i) for i in range(300)))
        indexes = [index for _, index in results]
        assert indexes == sorted(indexes) and len(set(indexes)) == 300
        await _until(lambda: all(n.applied >= indexes[-1] for n in nodes), 10, "every node applied")
        for node in nodes:
            mine = [data for _, data in node.entries if data.startswith(b"e")]
            assert mine == [b"e%d" % i for i in range(300)]

    nodes = _run_cluster(tmp_path, scenario)
    # No tick thread: every node applied on the thread that ran the event loop.
    assert {t for n in nodes for t in n.threads} == {loop_thread}


@pytest.mark.parametrize("delay_s", [0.003])
def test_a_long_apply_backlog_does_not_stop_heartbeats(tmp_path, delay_s):
    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        term = leader.rep.term
        # 300 entries of 3 ms each: ~0.9 s of applying per node, longer than the election
        # timeout, all committed at once. Applied in slices, heartbeats go on between them.
        results = await asyncio.gather(*(_propose(leader.rep, b"slow%d" % i) for i in range(300)))
        last = max(index for _, index in results)
        await _until(lambda: all(n.applied >= last for n in nodes), 60, "every node applied the backlog")
        assert [n.rep.term for n in nodes] == [term] * 3
        assert leader.rep.is_leader

    _run_cluster(tmp_path, scenario, apply_delay_s=delay_s)


def test_a_followers_read_index_request_leaves_at_once_not_at_its_next_tick(tmp_path):
    """On the loop a follower sends its ReadIndex request when asked (its ticks do not carry it):
    the answer, the leader's commit index, comes back as for a request sent from a tick."""
    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        _, index = await _propose(leader.rep, b"x")
        follower = next(n for n in nodes if not n.rep.is_leader)
        ticks = follower.rep._driver.ticks
        fut = asyncio.get_running_loop().create_future()

        def answered(_result, index, error):
            fut.set_exception(error) if error is not None else fut.set_result(index)

        follower.rep.read_index(answered, 5.0)
        assert follower.rep._driver.ticks == ticks and follower.rep._reads._asks, "sent before any tick"
        assert await asyncio.wait_for(fut, 10) >= index
        # a commit index learnt from an answer asks the loop for its tick (RaftNode.rc_tick_soon)
        assert follower.rep._node.rc_tick_soon == follower.rep._driver.soon

    _run_cluster(tmp_path, scenario)



def test_lone_writes_are_sent_at_once_and_need_no_commit_notice(tmp_path):
    """Writes proposed one at a time, a millisecond apart (one client's): the leader appends and
    sends each right after it is proposed, not from a tick, and sends no commit notice while each next
    write's append-entries carries the commit index of the one before (a notice went for about
    every second write when it left COMMIT_NOTICE_S after each commit). After the last write
    the notice still goes: every follower applies it."""
    writes = 40

    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        node = leader.rep._node
        await _propose(leader.rep, b"warm")
        notices = node.rc_commit_notices
        last, slow_gaps, answered = 0, 0, None
        for i in range(writes):
            before = node.raft_log[-1][1]
            fut = asyncio.ensure_future(_propose(leader.rep, b"w%d" % i))
            await asyncio.sleep(0)   # propose() ran: no tick asked for it
            assert not leader.rep._driver._scheduled
            await asyncio.sleep(0)   # the turn's proposals went out together
            assert node.raft_log[-1][1] == before + 1 and node._rc_sent[0] == before + 1
            if answered is not None and time.monotonic() - answered > COMMIT_NOTICE_S - 0.0005:
                slow_gaps += 1   # (a loaded machine) no entry came in time: a notice may be due
            _, last = await fut
            answered = time.monotonic()   # committed a little before: the gap counted is a floor
            await asyncio.sleep(0.001)
        assert node.rc_commit_notices - notices <= slow_gaps + 2
        await _until(lambda: all(n.applied >= last for n in nodes), 5, "every follower applied the last write")
        assert node.rc_commit_notices - notices >= 1

    _run_cluster(tmp_path, scenario)


def test_a_commit_no_later_write_carries_reaches_the_followers_well_before_the_next_heartbeat(tmp_path):
    """The last write of a burst: no later append-entries carries its commit index, so the leader
    sends a commit notice about COMMIT_NOTICE_S after the commit, not at its next heartbeat
    (half a second here): every follower applies it within a fraction of the heartbeat."""
    heartbeat_s = 0.5

    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        node = leader.rep._node
        notices = node.rc_commit_notices
        for i in range(3):
            _, index = await _propose(leader.rep, b"burst-end%d" % i)
            committed = time.monotonic()
            await _until(lambda: all(n.applied >= index for n in nodes), heartbeat_s,
                         "every follower applied the write")
            assert time.monotonic() - committed < heartbeat_s / 2
            await asyncio.sleep(heartbeat_s * 1.2)   # the next write starts after a heartbeat
        # (a heartbeat due within COMMIT_NOTICE_S of a commit carries it instead: not three times)
        assert node.rc_commit_notices > notices

    _run_cluster(tmp_path, scenario, heartbeat_s=heartbeat_s, election_s=3.2 * heartbeat_s)


def test_an_acknowledgement_of_a_committed_index_needs_no_tick(tmp_path):
    """The leader ticks after a follower's acknowledgement only when the tick has something to
    do: it may move the commit index, the follower lacks entries, or a ReadIndex round or a
    leadership transfer waits for acknowledgements."""
    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        node = leader.rep._node
        _, index = await _propose(leader.rep, b"x")
        await _until(lambda: node.raftCommitIndex >= index, 5, "the write committed")
        peer = next(iter(node._SyncObj__otherNodes))
        last = node.raft_log[-1][1]

        def ack(upto: int, success: bool = True) -> bool | None:
            return node._on_message(peer, {"type": "next_node_idx", "next_node_idx": upto + 1, "success": success,
                                           "reset": False})

        assert ack(index) is True   # committed already: nothing for a tick
        assert not ack(index, success=False)
        node._SyncObj__raftNextIndex[peer] = last   # the follower still lacks the last entry
        assert not ack(last - 1)
        node._SyncObj__raftNextIndex[peer] = last + 1
        node._SyncObj__raftCommitIndex -= 1         # the acknowledged index is not committed yet
        assert not ack(last)
        node._SyncObj__raftCommitIndex += 1
        leader.rep.read_index(lambda *_: None, 5.0)   # a linearizable read waits for a round
        assert not ack(last)
        await _until(lambda: not leader.rep._reads.awaits_acks, 5, "the round answered")
        assert ack(last) is True
        # A leadership transfer waits for its target to catch up: set and cleared in this turn,
        # before any tick could start handing leadership over.
        leader.rep._transfers._current = Transfer(None, time.monotonic() + 60, lambda *_: None)
        try:
            assert not ack(last)
        finally:
            leader.rep._transfers._current = None
        assert ack(last) is True

    _run_cluster(tmp_path, scenario)


def test_the_proposals_of_one_turn_go_out_together(tmp_path):
    """Proposals made in one loop turn are appended and sent together in the next: one journal
    flush before one append-entries to each follower under appendfsync always, not one each."""
    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        node = leader.rep._node
        await _propose(leader.rep, b"warm")
        flushes, before = node.raft_log.flush_count, node.raft_log[-1][1]
        futures = [asyncio.ensure_future(_propose(leader.rep, b"t%d" % i)) for i in range(5)]
        await asyncio.sleep(0)   # all five proposed in this turn
        await asyncio.sleep(0)   # ... and sent in the next
        assert node.raft_log[-1][1] == before + 5 and node._rc_sent[0] == before + 5
        assert node.raft_log.flush_count - flushes == 1
        indexes = [index for _, index in await asyncio.gather(*futures)]
        assert indexes == list(range(before + 1, before + 6))

    _run_cluster(tmp_path, scenario, appendfsync="always")


def test_a_proposal_no_majority_takes_fails_with_an_unknown_outcome_at_its_deadline(tmp_path):
    """The leader's followers are gone: a proposal cannot commit, and fails DeadlineError (its
    outcome unknown) once proposal_timeout_s passed, from the leader's own ticks, long before
    the leader steps down for want of answers (leader_fallback_s, 4 s here)."""
    async def scenario(nodes):
        leader = next(n for n in nodes if n.rep.is_leader)
        for node in nodes:
            if node is not leader:
                node.rep.close()
        started = time.monotonic()
        with pytest.raises(DeadlineError):
            await _propose(leader.rep, b"lost")
        assert time.monotonic() - started < 1.5
        assert leader.rep.is_leader

    _run_cluster(tmp_path, scenario, election_s=1.6, proposal_timeout_s=0.3)
