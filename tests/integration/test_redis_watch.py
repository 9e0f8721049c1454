"""WATCH / MULTI / EXEC against a real redis-server: every scenario runs on Redis
(tests/real_redis.py) and on raftcache, with the watching connection on the
leader and on a follower, and EXEC must answer the same (nil when a watched
key changed). Then redis-py's own WATCH pipelines, unmodified, keep a counter
exact under concurrent clients on different nodes."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.integration.redis_helpers import client, leader_and_follower

# Each scenario: steps (connection "w" — the watching one — or "o", another client,
# then a command); the last step's EXEC on "w" is compared.
SCENARIOS = {
    "own_write_after_watch": [("w", "SET", "x", "1"), ("w", "WATCH", "x"), ("w", "SET", "x", "40")],
    "other_client_creates": [("w", "WATCH", "x"), ("o", "SET", "x", "1")],
    "untouched_keys": [("w", "SET", "x", "1"), ("w", "WATCH", "x", "y"), ("o", "SET", "z", "1"), ("o", "DEL", "z")],
    "created_then_deleted": [("w", "WATCH", "x"), ("o", "SET", "x", "1"), ("o", "DEL", "x")],
    "del_of_absent_key": [("w", "WATCH", "x"), ("o", "DEL", "x")],
    "flushall_existing": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "FLUSHALL")],
    "flushall_absent": [("o", "SET", "y", "1"), ("w", "WATCH", "x"), ("o", "FLUSHALL")],
    "flushdb_existing": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "FLUSHDB")],
    "flushdb_absent": [("o", "SET", "y", "1"), ("w", "WATCH", "x"), ("o", "FLUSHDB")],
    "flushdb_of_another_db": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "SELECT", "1"),
                              ("o", "SET", "x", "1"), ("o", "FLUSHDB")],
    "swapdb_key_in_other_db": [("o", "SELECT", "1"), ("o", "SET", "x", "1"), ("w", "WATCH", "x"),
                               ("o", "SWAPDB", "0", "1")],
    "swapdb_key_in_watched_db": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "SWAPDB", "0", "1")],
    "swapdb_key_in_neither": [("o", "SET", "y", "1"), ("w", "WATCH", "x"), ("o", "SWAPDB", "0", "1")],
    "expire": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "EXPIRE", "x", "100")],
    "expire_of_absent_key": [("w", "WATCH", "x"), ("o", "EXPIRE", "x", "100")],
    "persist": [("o", "SET", "x", "1", "EX", "100"), ("w", "WATCH", "x"), ("o", "PERSIST", "x")],
    "persist_without_ttl": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "PERSIST", "x")],
    "key_expires": [("o", "SET", "x", "1", "PX", "150"), ("w", "WATCH", "x"), ("wait_gone", "x")],
    "rename_into": [("o", "SET", "src", "1"), ("w", "WATCH", "dst"), ("o", "RENAME", "src", "dst")],
    "restore_into": [("o", "SET", "src", "1"), ("w", "WATCH", "dst"), ("dump_restore", "src", "dst")],
    "write_to_same_name_other_db": [("w", "WATCH", "x"), ("o", "SELECT", "1"), ("o", "SET", "x", "1")],
    "sadd_existing_member": [("o", "SADD", "s", "a"), ("w", "WATCH", "s"), ("o", "SADD", "s", "a")],
    "ltrim_removing_nothing": [("o", "RPUSH", "l", "a", "b"), ("w", "WATCH", "l"), ("o", "LTRIM", "l", "0", "-1")],
    "ltrim_of_absent_key": [("w", "WATCH", "l"), ("o", "LTRIM", "l", "0", "-1")],
    "set_pxat_past_absent": [("w", "WATCH", "x"), ("o", "SET", "x", "1", "PXAT", "1")],
    "set_exat_past_existing": [("o", "SET", "x", "1"), ("w", "WATCH", "x"), ("o", "SET", "x", "2", "EXAT", "1")],
    "discard_unwatches": [("w", "WATCH", "x"), ("w", "MULTI"), ("w", "DISCARD"), ("o", "SET", "x", "1")],
    "unwatch": [("w", "WATCH", "x"), ("w", "UNWATCH"), ("o", "SET", "x", "1")],
    "exec_unwatches": [("w", "WATCH", "x"), ("w", "MULTI"), ("w", "EXEC"), ("o", "SET", "x", "1")],
}
#: What Redis answers (checked on the real server by the test itself too).
ABORTS = {"own_write_after_watch", "other_client_creates", "created_then_deleted", "flushall_existing",
          "flushdb_existing", "swapdb_key_in_other_db", "swapdb_key_in_watched_db", "expire", "persist",
          "key_expires", "rename_into", "restore_into", "ltrim_removing_nothing", "set_pxat_past_absent",
          "set_exat_past_existing"}


def run_scenario(w: redis.Redis, o: redis.Redis, steps, body=(("PING",),)):
    """The steps, then MULTI, `body`, EXEC on `w`: EXEC's reply (None when aborted)."""
    for who, *command in steps:
        if who == "wait_gone":
            deadline = time.monotonic() + 10
            while o.exists(command[0]):
                assert time.monotonic() < deadline, "the key never expired"
                time.sleep(0.02)
        elif who == "dump_restore":
            o.restore(command[1], 0, o.dump(command[0]))
        else:
            (w if who == "w" else o).execute_command(*command)
    w.execute_command("MULTI")
    for command in body:
        w.execute_command(*command)
    return w.execute_command("EXEC")


def fresh_pair(make) -> tuple[redis.Redis, redis.Redis]:
    w, o = make("w"), make("o")
    for c in (w, o):
        c.execute_command("SELECT", 0)
    return w, o


@pytest.fixture
def redis_pair(real_redis):
    port = real_redis.connection_pool.connection_kwargs["port"]
    return lambda: fresh_pair(lambda _: redis.Redis(host="127.0.0.1", port=port, socket_timeout=10))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_watch_scenarios_as_redis(cluster, redis_pair, name):
    expected = None if name in ABORTS else [b"PONG"]
    real_w, real_o = redis_pair()
    real_w.flushall()
    assert run_scenario(real_w, real_o, SCENARIOS[name]) == expected, "real Redis answers otherwise"
    leader, follower = leader_and_follower(cluster)
    for node in (leader, follower):
        o = client(leader, 2)
        o.flushall()
        w = client(node, 2)
        assert run_scenario(w, o, SCENARIOS[name]) == expected, f"watching on {node.name}"


def test_a_read_only_transaction_checks_its_watches(cluster, real_redis):
    leader = cluster.leader()
    for w, o in ((client(leader, 2), client(leader, 2)), (real_redis, real_redis)):
        w.set("x", "1")
        steps = [("w", "WATCH", "x"), ("o", "SET", "x", "2")]
        port = w.connection_pool.connection_kwargs["port"]
        w2 = redis.Redis(host="127.0.0.1", port=port)
        assert run_scenario(w2, o, steps, body=[("GET", "x")]) is None
        assert run_scenario(w2, o, [("w", "WATCH", "x")], body=[("GET", "x")]) == [b"2"]


def test_queue_time_errors_and_texts_as_redis(cluster, real_redis):
    leader = cluster.leader()
    replies = []
    for c in (client(leader, 2), real_redis):
        seen = []
        for command in (["MULTI"], ["WATCH", "x"], ["NOSUCH"], ["SET", "x"], ["EXEC"], ["EXEC"], ["DISCARD"],
                        ["MULTI"], ["MULTI"], ["INCR", "x"], ["SET", "x", "a"], ["INCR", "x"], ["EXEC"]):
            try:
                reply = c.execute_command(*command)
            except redis.ResponseError as e:
                reply = ("error", str(e))
            if isinstance(reply, list):  # EXEC: errors as values
                reply = [("error", str(x)) if isinstance(x, Exception) else x for x in reply]
            seen.append(reply)
        replies.append(seen)
    assert replies[0] == replies[1]
    assert ("error", "Transaction discarded because of previous errors.") in replies[0]


def test_redis_py_watch_pipelines_keep_a_counter_exact_across_nodes(cluster):
    """redis-py's transaction() helper (WATCH, GET, MULTI, SET, EXEC, retry on WatchError),
    from clients on every node at once: no increment is lost."""
    nodes = cluster.alive_nodes()
    client(nodes[0], 2).set("counter", 0)
    per_client, errors = 15, []

    def work(node):
        r = client(node, 2)
        try:
            for _ in range(per_client):
                def incr(pipe):
                    value = int(pipe.get("counter"))
                    pipe.multi()
                    pipe.set("counter", value + 1)
                r.transaction(incr, "counter")
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in nodes for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    leader = client(cluster.leader(), 2)
    assert int(leader.get("counter")) == per_client * len(threads)
