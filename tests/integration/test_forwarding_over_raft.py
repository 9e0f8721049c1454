"""Writes sent to a follower reach the leader over the Raft connection (node/raft/forwards.py),
against real nodes with redis-py: the follower counts the batches it sent that way and the
leader those it answered; a batch too large for a Raft message, and a reply too large for
one, go over gRPC instead, and a write is applied once either way."""

from __future__ import annotations

import threading

import redis

from raftcache.localcluster import wait_until


def _stat(r: redis.Redis, field: str) -> int:
    return int(r.info("stats")[field])


def _clients(cluster) -> tuple[redis.Redis, redis.Redis]:
    leader = cluster.leader()
    follower = next(node for node in cluster.nodes if node is not leader)
    return (redis.Redis(*follower.redis_address, socket_timeout=10),
            redis.Redis(*leader.redis_address, socket_timeout=10))


def test_writes_to_a_follower_travel_over_the_raft_connection(cluster):
    at_follower, at_leader = _clients(cluster)
    sent, served = _stat(at_follower, "raftcache_raft_forward_batches_sent"), \
        _stat(at_leader, "raftcache_raft_forward_batches_served")
    for i in range(50):
        assert at_follower.incr("fw:counter") == i + 1
    with at_follower.pipeline(transaction=False) as p:
        for i in range(100):
            p.set(f"fw:key:{i}", i)
        assert p.execute() == [True] * 100
    batches = _stat(at_follower, "raftcache_raft_forward_batches_sent") - sent
    assert 50 < batches <= 150, f"{batches} batches over the Raft connection"
    assert _stat(at_leader, "raftcache_raft_forward_batches_served") - served == batches
    assert at_leader.get("fw:counter") == b"50" and at_leader.get("fw:key:99") == b"99"
    at_follower.close()
    at_leader.close()


def test_what_is_too_large_for_a_raft_message_goes_over_grpc_and_is_applied_once(cluster):
    at_follower, at_leader = _clients(cluster)
    big = b"v" * (700 << 10)
    sent = _stat(at_follower, "raftcache_raft_forward_batches_sent")
    assert at_follower.set("fw:big", big)          # the batch itself is too large: gRPC
    assert _stat(at_follower, "raftcache_raft_forward_batches_sent") == sent
    assert at_leader.get("fw:big") == big
    # The reply is too large: the leader ran GETDEL, the follower asks again over gRPC and the
    # dedup table answers it; run twice, the second run would find nothing to return.
    assert at_follower.getdel("fw:big") == big
    assert _stat(at_follower, "raftcache_raft_forward_batches_sent") == sent + 1
    assert at_leader.exists("fw:big") == 0
    assert at_follower.rpush("fw:list", b"x" * (600 << 10)) == 1
    assert at_follower.lpop("fw:list") == b"x" * (600 << 10)     # again a reply too large
    assert at_leader.llen("fw:list") == 0
    at_follower.close()
    at_leader.close()


def test_counting_through_a_follower_across_a_leader_kill_applies_each_write_once(cluster):
    """INCRs sent to a follower while the leader is killed: every acknowledged one is counted,
    none twice (a failed one may or may not have been applied: its outcome is unknown)."""
    leader = cluster.leader()
    follower = next(node for node in cluster.nodes if node is not leader)
    r = redis.Redis(*follower.redis_address, socket_timeout=10)
    sent = _stat(r, "raftcache_raft_forward_batches_sent")
    counts = {"acked": 0, "failed": 0}
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set() and counts["acked"] + counts["failed"] < 50_000:
            try:
                r.incr("fw:kill")
                counts["acked"] += 1
            except redis.RedisError:
                counts["failed"] += 1

    worker = threading.Thread(target=count)
    worker.start()
    try:
        wait_until(lambda: counts["acked"] >= 200, 20, "200 INCRs through the follower")
        assert _stat(r, "raftcache_raft_forward_batches_sent") > sent, "over the Raft connection"
        cluster.kill(leader)
        before = counts["acked"]
        wait_until(lambda: counts["acked"] >= before + 200, 30, "200 more INCRs under the next leader")
    finally:
        stop.set()
        worker.join(30)
    new_leader = cluster.leader()
    at_leader = redis.Redis(*new_leader.redis_address, socket_timeout=10)
    value = int(at_leader.get("fw:kill"))
    assert counts["acked"] <= value <= counts["acked"] + counts["failed"], counts
    r.close()
    at_leader.close()
