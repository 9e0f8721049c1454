"""Unit tests of the SDK's operator calls (client/admin.py) against the in-memory FakeCluster: no sockets.

Which node each call goes to (the node named, else the first seed that
answers; the leader for membership and leadership, found again when it
moves), the cluster secret sent only with the calls that need it, and the
checks a backup download makes before the file takes its final name.
"""

import asyncio
import os

import pytest
from raftcache.client import Admin, AsyncClient, Client
from raftcache.client.errors import AuthenticationError, ConfigError, ConnectionFailedError, DeadlineExceededError
from raftcache.client.testing import FakeCluster, backup_file
from raftcache.peers import Peer


def make(fake: FakeCluster, **options) -> AsyncClient:
    return AsyncClient(fake.seeds, transport=fake, **options)


def run(coro):
    return asyncio.run(coro)


def test_node_calls_go_to_the_named_node_else_the_first_seed_that_answers():
    fake = FakeCluster()
    fake.nodes[0].down = True

    async def main():
        async with make(fake) as c:
            assert await c.admin.find_node() == "fake2:7000"
            assert (await c.admin.status()).id == "n2"
            assert (await c.admin.status("fake3:7000")).id == "n3"
            assert [m.id for m in (await c.admin.topology()).members] == ["n1", "n2", "n3"]
            assert await c.admin.health() == "SERVING"
    run(main())


def test_when_no_seed_answers_the_error_names_each_one():
    fake = FakeCluster()
    for node in fake.nodes:
        node.down = True

    async def main():
        async with make(fake) as c:
            await c.admin.status()
    with pytest.raises(ConnectionFailedError) as raised:
        run(main())
    assert all(f"cannot reach {seed}" in raised.value.message for seed in fake.seeds)


def test_membership_calls_go_to_the_leader_with_the_secret_and_follow_a_moved_leader():
    fake = FakeCluster(leader=1)

    async def main():
        async with make(fake, cluster_secret=fake.secret) as c:
            reply = await c.admin.add_node("n4@a=fake4:7000")
            assert [m.id for m in reply.members] == ["n1", "n2", "n3", "n4"]
            fake.elect("n3")                       # the client still believes n2 leads
            reply = await c.admin.remove_node("n1")
            assert [m.id for m in reply.members] == ["n2", "n3", "n4"]
            moved = await c.admin.transfer_leader("n4")
            assert (moved.leader_id, moved.term) == ("n4", fake.term)
    run(main())
    sent = [(method, fake.node(address).id if method != "RemoveNode" else address)
            for method, address, _ in fake.calls if method in ("AddNode", "RemoveNode", "TransferLeader")]
    assert [m for m, _ in sent] == ["AddNode", "RemoveNode", "RemoveNode", "TransferLeader"]
    assert sent[0][1] == "n2"
    added = next(r for m, _, r in fake.calls if m == "AddNode").member
    assert (added.id, added.zone, added.raft_address, added.voter) == ("n4", "a", "fake4:7003", True)


def test_the_secret_is_required_and_sent_only_where_needed():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            with pytest.raises(ConfigError, match="needs the cluster secret"):
                await c.admin.transfer_leader()
            await c.admin.status()                 # no secret needed
        async with make(fake, cluster_secret="wrong") as c:
            with pytest.raises(AuthenticationError):
                await c.admin.transfer_leader()
    run(main())


def test_a_bad_member_spec_is_a_config_error():
    with Client(FakeCluster().seeds, transport=FakeCluster(), cluster_secret="s") as c:
        with pytest.raises(ConfigError, match="ID@ZONE=HOST:BASEPORT"):
            c.admin.add_node("n4")


def test_wait_caught_up_names_the_index_it_waited_for():
    fake = FakeCluster()
    fake.index = 7

    async def main():
        async with make(fake) as c:
            assert await c.admin.wait_caught_up(Peer("n2", "b", "fake2", 7000), timeout_s=1) == 7
            fake.nodes.append(type(fake.nodes[0])("n4", "a", "fake4:7000", down=True))
            await c.admin.wait_caught_up("n4@a=fake4:7000", timeout_s=0.3)
    with pytest.raises(DeadlineExceededError, match=r"n4 has not caught up to index 7 .*\(applied -1\)"):
        run(main())


def test_wait_caught_up_reports_the_snapshot_then_the_log():
    fake = FakeCluster()
    fake.index = 7
    status = fake.status
    polls = iter([(0, 100), (0, 300), (7, 0)])   # the member: (applied, snapshot bytes received so far)

    async def member_receiving(address, timeout_s):
        reply = await status(address, timeout_s)
        if reply.id == fake.leader_id:
            reply.snapshot_bytes = 400
        else:
            reply.applied_index, reply.snapshot_received_bytes = next(polls)
        return reply

    fake.status = member_receiving
    seen: list = []

    async def main():
        async with make(fake) as c:
            follower = next(n for n in fake.nodes if n.id != fake.leader_id)
            return await c.admin.wait_caught_up(
                Peer(follower.id, follower.zone, follower.address.split(":")[0], 7000), timeout_s=5,
                progress=lambda applied, target: seen.append(("log", applied, target)),
                snapshot_progress=lambda done, total: seen.append(("snapshot", done, total)))
    assert run(main()) == 7
    assert seen == [("snapshot", 100, 400), ("log", 0, 7), ("snapshot", 300, 400), ("log", 0, 7), ("log", 7, 7)]


def test_a_backup_is_written_private_and_renamed_once_checked(tmp_path):
    fake = FakeCluster()
    path = tmp_path / "b.rcbak"
    seen = []
    with Client(fake.seeds, transport=fake, cluster_secret=fake.secret) as c:
        assert isinstance(c.admin, Admin)
        info = c.admin.backup(str(path), address="fake2:7000", progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == fake.backup_bytes and os.stat(path).st_mode & 0o777 == 0o600
    assert (info.node_id, info.total_bytes) == ("n2", len(fake.backup_bytes))
    assert seen[-1] == len(fake.backup_bytes) and seen == sorted(seen)
    assert not (tmp_path / "b.rcbak.part").exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "bad-trailer"])
def test_a_damaged_backup_stream_leaves_no_file(tmp_path, damage):
    fake = FakeCluster()
    good = backup_file(b"image" * 500)
    fake.backup_bytes = {"truncated": good[:-100] + good[-32:], "flipped": good[:10] + b"X" + good[11:],
                         "bad-trailer": good[:-1] + b"\0"}[damage]
    path = tmp_path / "b.rcbak"
    with Client(fake.seeds, transport=fake, cluster_secret=fake.secret) as c:
        with pytest.raises(ConnectionFailedError, match="checksum mismatch|ended early"):
            c.admin.backup(str(path))
    assert list(tmp_path.iterdir()) == []
