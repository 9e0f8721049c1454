"""Connection, server and transaction commands through redis-py, RESP2 and RESP3, on real nodes.

PING, ECHO, HELLO, AUTH, SELECT (16 keyspaces), SWAPDB, MOVE, QUIT, RESET,
CLIENT SETNAME/GETNAME/ID/INFO/LIST/SETINFO, COMMAND COUNT/INFO/DOCS, INFO
and its sections (replication with raftcache's role, leader, zone and lag),
CONFIG GET/SET/RESETSTAT, DBSIZE, FLUSHDB/FLUSHALL, TIME, WAIT, and
MULTI/EXEC/DISCARD/WATCH/UNWATCH: queue-time errors abort EXEC, run-time
errors are reported per command, a watched key changed by another
connection makes EXEC return nil, and a transaction sent to a follower is
applied on every replica.
"""

from __future__ import annotations

import socket
import time
import warnings

import pytest
import redis

from tests.integration.redis_helpers import (
    COMPARING_WITH_REDIS,
    NOT_INTEGER,
    WRONGTYPE,
    RawConnection,
    assert_arity_errors,
    client,
    error,
    leader_and_follower,
    linearizable,
    raw,
    same_on_every_node,
)

DB_RANGE = "DB index is out of range"
EXECABORT = "Transaction discarded because of previous errors."


def as_dict(reply) -> dict:
    """A map reply as a dict whatever the protocol (RESP2 gives a flat array)."""
    return reply if isinstance(reply, dict) else dict(zip(reply[0::2], reply[1::2]))


# ---------------------------------------------------------------- connection


def test_ping_echo_auth_quit(r, protocol):
    assert r.ping() is True and raw(r, "PING") == b"PONG" and raw(r, "PING", "hello") == b"hello"
    assert r.echo("hi") == b"hi" and r.echo("") == b""
    assert error(r, "AUTH", "secret") == ("AUTH <password> called without any password configured for the "
                                          "default user. Are you sure your configuration is correct?")
    assert error(r, "AUTH", "a", "b", "c") == "syntax error"
    assert_arity_errors(r, [["PING", "a", "b"], ["ECHO"], ["ECHO", "a", "b"], ["AUTH"]])

    host, port = r.connection_pool.connection_kwargs["host"], r.connection_pool.connection_kwargs["port"]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"PING\r\nQUIT\r\nPING\r\n")  # nothing after QUIT is answered
        data = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
    assert data == b"+PONG\r\n+OK\r\n"
    assert r.ping() is True


def test_hello(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    r = client(leader, protocol)
    conn = RawConnection(r)
    try:
        client_id = conn("CLIENT", "ID")
        reply = as_dict(conn("HELLO", protocol, "SETNAME", "hello-name"))
        assert {k: reply[k] for k in (b"server", b"proto", b"id", b"mode", b"role", b"modules")} == {
            b"server": b"redis", b"proto": protocol, b"id": client_id, b"mode": b"standalone", b"role": b"master",
            b"modules": []}
        assert reply[b"version"].startswith(b"7.")
        assert conn("CLIENT", "GETNAME") == b"hello-name"
        other = 5 - protocol  # switch protocols on the same connection, then back
        assert as_dict(conn("HELLO", other))[b"proto"] == other
        assert as_dict(conn("HELLO", protocol))[b"proto"] == protocol
        assert str(conn("HELLO", "4")) == "NOPROTO unsupported protocol version"
        assert str(conn("HELLO", "abc")) == "Protocol version is not an integer or out of range"
        assert str(conn("HELLO", protocol, "SETNAME", "bad name")) == \
            "Client names cannot contain spaces, newlines or special characters."
        assert str(conn("HELLO", protocol, "FOO")) == "Syntax error in HELLO option 'FOO'"
    finally:
        conn.close(disconnect=True)
    if not COMPARING_WITH_REDIS:
        assert as_dict(raw(client(follower, protocol), "HELLO", protocol))[b"role"] == b"replica"


def test_client_commands(r, protocol):
    conn = RawConnection(r)
    try:
        my_id = conn("CLIENT", "ID")
        assert isinstance(my_id, int) and my_id > 0
        assert conn("CLIENT", "GETNAME") is None
        assert conn("CLIENT", "SETNAME", "conn-a") == b"OK" and conn("CLIENT", "GETNAME") == b"conn-a"
        assert str(conn("CLIENT", "SETNAME", "has space")) == \
            "Client names cannot contain spaces, newlines or special characters."
        assert conn("SELECT", 3) == b"OK"
        info = conn("CLIENT", "INFO").decode()
        fields = dict(item.split("=", 1) for item in info.split())
        assert (fields["id"], fields["name"], fields["db"], fields["resp"]) == \
            (str(my_id), "conn-a", "3", str(protocol))
        listed = [dict(item.split("=", 1) for item in line.split())
                  for line in conn("CLIENT", "LIST").decode().splitlines()]
        assert [c["name"] for c in listed if c["id"] == str(my_id)] == ["conn-a"]
        if not COMPARING_WITH_REDIS:  # CLIENT SETINFO is Redis 7.2
            assert conn("CLIENT", "SETINFO", "lib-name", "mylib") == b"OK"
            assert conn("CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"OK"
            assert "lib-name=mylib lib-ver=1.2.3" in conn("CLIENT", "INFO").decode()
        assert conn("CLIENT", "SETNAME", "") == b"OK" and conn("CLIENT", "GETNAME") is None
    finally:
        conn.close(disconnect=True)
    assert r.client_setname("via-redis-py") is True and r.client_getname() in ("via-redis-py", b"via-redis-py")
    assert r.client_id() > 0 and r.client_info()["name"] == "via-redis-py"


def test_reset(r, protocol):
    conn = RawConnection(r)
    try:
        conn("CLIENT", "SETNAME", "before-reset")
        conn("SELECT", 5)
        conn("SET", "in5", "v")
        conn("WATCH", "in5")
        assert conn("MULTI") == b"OK" and conn("SET", "x", "1") == b"QUEUED"
        assert conn("RESET") == b"RESET"
        assert conn("CLIENT", "GETNAME") is None
        assert conn("GET", "in5") is None and conn("EXISTS", "x") == 0  # back in db 0, MULTI discarded
        assert str(conn("EXEC")) == "EXEC without MULTI"
        assert b"resp=2" in conn("CLIENT", "INFO")  # RESET returns to RESP2
    finally:
        conn.close(disconnect=True)  # it speaks RESP2 now, whatever the pool expects
    assert r.ping() is True


def test_auth_with_a_password(r, protocol):
    """requirepass set (CONFIG SET, as an operator would): AUTH and HELLO … AUTH."""
    host, port = r.connection_pool.connection_kwargs["host"], r.connection_pool.connection_kwargs["port"]
    admin = RawConnection(r)  # authenticated already: it resets the password whatever happens
    assert admin("CONFIG", "SET", "requirepass", "s3cret") == b"OK"
    try:
        # No CLIENT SETINFO on connect: before AUTH it would be refused (NOAUTH) and fail the connect.
        with warnings.catch_warnings():  # redis-py 8 prefers driver_info, which redis-py 5 lacks
            warnings.simplefilter("ignore", DeprecationWarning)
            anonymous = redis.Redis(host=host, port=port, protocol=2, socket_timeout=10, lib_name=None,
                                    lib_version=None)
        assert error(anonymous, "GET", "k") == "Authentication required."
        conn = RawConnection(anonymous)
        try:
            assert str(conn("AUTH", "wrong")) == "invalid username-password pair or user is disabled."
            assert str(conn("AUTH", "nobody", "s3cret")) == "invalid username-password pair or user is disabled."
            assert str(conn("HELLO", protocol)).startswith("HELLO must be called with the client already authenticated")
            assert as_dict(conn("HELLO", protocol, "AUTH", "default", "s3cret", "SETNAME", "authed"))[b"proto"] == \
                protocol
            assert conn("CLIENT", "GETNAME") == b"authed" and conn("SET", "k", "v") == b"OK"
            assert conn("AUTH", "s3cret") == b"OK" and conn("AUTH", "default", "s3cret") == b"OK"
        finally:
            conn.close(disconnect=True)
        with_password = redis.Redis(host=host, port=port, protocol=protocol, password="s3cret", socket_timeout=10)
        assert with_password.get("k") == b"v"
    finally:
        assert admin("CONFIG", "SET", "requirepass", "") == b"OK"
        admin.close()
    assert redis.Redis(host=host, port=port, protocol=protocol).get("k") == b"v"


# ---------------------------------------------------------------- databases


def test_select_sixteen_keyspaces(r):
    conn = RawConnection(r)
    try:
        for db in range(16):
            assert conn("SELECT", db) == b"OK"
            assert conn("SET", "k", f"db{db}") == b"OK" and conn("RPUSH", f"only{db}", db) == 1
        for db in range(16):
            conn("SELECT", db)
            assert conn("GET", "k") == f"db{db}".encode() and conn("DBSIZE") == 2
            assert conn("EXISTS", f"only{(db + 1) % 16}") == 0
        for bad in ("16", "-1"):
            assert str(conn("SELECT", bad)) == DB_RANGE
        assert str(conn("SELECT", "abc")) == NOT_INTEGER
        assert conn("GET", "k") == b"db15"  # a refused SELECT keeps the database
    finally:
        conn.close(disconnect=True)
    assert_arity_errors(r, [["SELECT"], ["SELECT", "1", "2"]])


def test_swapdb_move_dbsize_flush(r):
    r.mset({"a": "1", "b": "2"})
    assert r.dbsize() == 2 and r.swapdb(0, 1) is True and r.dbsize() == 0
    r.execute_command("SELECT", 1)
    assert r.dbsize() == 2 and r.get("a") == b"1"
    r.execute_command("SELECT", 0)
    assert r.swapdb(1, 0) is True and r.mget("a", "b") == [b"1", b"2"]
    assert r.swapdb(0, 0) is True and r.dbsize() == 2
    assert error(r, "SWAPDB", "0", "16") == DB_RANGE
    assert error(r, "SWAPDB", "a", "1") == "invalid first DB index"
    assert error(r, "SWAPDB", "0", "b") == "invalid second DB index"

    r.set("m", "v", ex=100)
    assert r.move("m", 1) is True and r.exists("m") == 0 and r.move("m", 1) is False
    r.execute_command("SELECT", 1)
    assert r.get("m") == b"v" and 90 <= r.ttl("m") <= 100
    r.execute_command("SELECT", 0)
    r.set("m", "here")
    assert r.move("m", 1) is False and r.get("m") == b"here"  # the target exists: nothing moves
    assert error(r, "MOVE", "m", "0") == "source and destination objects are the same"
    assert error(r, "MOVE", "m", "16") == DB_RANGE
    assert error(r, "MOVE", "m", "abc") == NOT_INTEGER

    assert r.flushdb() is True and r.dbsize() == 0
    r.execute_command("SELECT", 1)
    assert r.dbsize() == 1  # FLUSHDB empties only the selected database
    assert r.flushdb(asynchronous=True) is True and r.dbsize() == 0
    r.set("x", "1")
    r.execute_command("SELECT", 0)
    r.set("y", "1")
    assert r.flushall() is True and r.dbsize() == 0 and r.execute_command("FLUSHALL", "SYNC") is True
    r.execute_command("SELECT", 1)
    assert r.dbsize() == 0
    assert error(r, "FLUSHDB", "FOO") == "syntax error" and error(r, "FLUSHALL", "FOO") == "syntax error"
    assert error(r, "FLUSHALL", "ASYNC", "x") == "syntax error"
    assert_arity_errors(r, [["DBSIZE", "x"], ["MOVE", "k"], ["SWAPDB", "0"]])


# ---------------------------------------------------------------- server


def test_command_count_info_docs(r, protocol):
    count = r.command_count()
    assert count > 100 and {b"get", b"zadd", b"multi"} <= set(raw(r, "COMMAND", "LIST"))
    info = r.execute_command("COMMAND", "INFO", "get")["get"]
    assert (info["name"], info["arity"], set(info["flags"])) == ("get", 2, {"readonly", "fast"})
    assert (info["first_key_pos"], info["last_key_pos"], info["step_count"]) == (1, 1, 1)
    info = r.execute_command("COMMAND", "INFO", "set")["set"]
    assert info["arity"] == -3 and {"write", "denyoom"} <= set(info["flags"])
    docs = as_dict(as_dict(raw(r, "COMMAND", "DOCS", "get"))[b"get"])
    assert docs[b"group"] == b"string" and docs[b"since"] == b"1.0.0" and docs[b"summary"]


def test_info_sections(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    r = client(leader, protocol)
    r.mset({"a": "1", "b": "2", "c": "3"})
    r.execute_command("SELECT", 2)
    r.set("d", "4")
    r.execute_command("SELECT", 0)
    server = r.info("server")
    assert server["redis_version"].startswith("7.") and server["tcp_port"] == \
        r.connection_pool.connection_kwargs["port"]
    assert r.info("clients")["connected_clients"] >= 1
    assert r.info("memory")["used_memory"] >= 0
    assert r.info("stats")["total_commands_processed"] > 0
    keyspace = r.info("keyspace")
    assert {db: v["keys"] for db, v in keyspace.items()} == {"db0": 3, "db2": 1}
    everything = r.info("everything")
    assert {"redis_version", "connected_clients", "used_memory", "role", "db0"} <= set(everything)
    several = r.info("server", "replication")
    assert "redis_version" in several and "role" in several and "connected_clients" not in several
    replication = r.info("replication")
    assert replication["role"] == "master"
    cpu = r.info("cpu")   # what redis_exporter and INFO-reading dashboards chart
    assert cpu["used_cpu_user"] > 0 and cpu["used_cpu_user_main_thread"] <= cpu["used_cpu_user"]
    assert {"used_cpu_sys", "used_cpu_sys_children", "used_cpu_user_children"} <= set(cpu)
    if COMPARING_WITH_REDIS:
        return
    assert (replication["raftcache_leader_id"], replication["raftcache_zone"]) == (leader.id, leader.zone)
    assert replication["connected_slaves"] == 2
    slaves = [replication["slave0"], replication["slave1"]]
    assert sorted(s["zone"] for s in slaves) == sorted(n.zone for n in cluster.alive_nodes() if n is not leader)
    assert all(s["state"] == "online" for s in slaves)
    f = client(follower, protocol)
    replication = f.info("replication")
    assert replication["role"] == "slave" and replication["raftcache_leader_id"] == leader.id
    assert replication["raftcache_zone"] == follower.zone and replication["master_link_status"] == "up"
    assert replication["raftcache_lag_entries"] >= 0 and replication["raftcache_applied_index"] > 0
    assert f.info("clients")["raftcache_read_consistency"].startswith("default")


def test_keyspace_hits_and_misses_count_read_lookups(r):
    """INFO's keyspace_hits/misses (a cache's hit rate): read commands' lookups, not writes; RESETSTAT zeroes them."""
    r.set("hit", "1")
    r.config_resetstat()
    assert r.get("hit") == b"1" and r.get("missing") is None
    r.mget("hit", "missing2")
    r.set("written", "1")
    stats = r.info("stats")
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (2, 2)


def test_info_keyspace_counts_expiring_keys(r):
    r.set("ttl", "v", ex=100)
    r.set("plain", "v")
    r.set("persisted", "v", px=100_000)
    r.persist("persisted")
    r.expire("plain", 50)
    r.delete("ttl")
    db0 = r.info("keyspace")["db0"]
    assert (db0["keys"], db0["expires"]) == (2, 1)


def test_info_commandstats(r):
    """INFO commandstats (not in the default INFO): calls, rejected (arity) and failed (an error reply) per command."""
    r.set("n", "not a number")
    r.config_resetstat()
    assert r.get("n") == b"not a number" and r.get("missing") is None
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "n")  # (redis-py's incr() sends INCRBY)
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 2 and stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_get"]["failed_calls"] == 0 and stats["cmdstat_get"]["usec"] >= 0
    assert (stats["cmdstat_incr"]["calls"], stats["cmdstat_incr"]["failed_calls"]) == (1, 1)
    assert "cmdstat_set" not in stats  # reset
    assert not any(k.startswith("cmdstat_") for k in r.info())
    assert "cmdstat_get" in r.info("everything")
    r.config_resetstat()
    with r.pipeline(transaction=True) as tx:   # as Redis: EXEC, and each command it ran under its name
        tx.set("m", "1").incr("n").get("m")
        tx.execute(raise_on_error=False)
    stats = r.info("commandstats")
    assert [stats[f"cmdstat_{name}"]["calls"] for name in ("multi", "exec", "set", "incrby", "get")] == [1] * 5
    assert stats["cmdstat_incrby"]["failed_calls"] == 1   # (redis-py sends INCRBY)


def test_config_get_set_resetstat(r):
    original = r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"]
    try:
        assert r.config_set("hash-max-listpack-entries", 256) is True
        assert r.config_get("hash-max-listpack-entries") == {"hash-max-listpack-entries": "256"}
        assert set(r.config_get("hash-max-*")) == {"hash-max-listpack-entries", "hash-max-listpack-value",
                                                   "hash-max-ziplist-entries", "hash-max-ziplist-value"}
        assert raw(r, "CONFIG", "SET", "zset-max-listpack-entries", "64", "hz", "20") == b"OK"
        assert r.config_get("zset-max-listpack-entries")["zset-max-listpack-entries"] == "64"
        assert r.config_get("hz") == {"hz": "20"}
        assert r.config_set("save", "3600 1 300 100") is True
        assert r.config_get("save") == {"save": "3600 1 300 100"}
    finally:
        r.config_set("hash-max-listpack-entries", original)
        r.execute_command("CONFIG", "SET", "zset-max-listpack-entries", "128", "hz", "10")
        r.config_set("save", "")
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("nonexistent") == {}
    assert error(r, "CONFIG", "SET", "nonexistent", "1") == \
        "Unknown option or number of arguments for CONFIG SET - 'nonexistent'"
    for _ in range(5):
        r.ping()
    assert r.config_resetstat() is True
    assert r.info("stats")["total_commands_processed"] <= 3


def test_time_wait(cluster, r):
    seconds, micros = r.time()
    assert abs(seconds + micros / 1e6 - time.time()) < 5 and 0 <= micros < 1_000_000
    r.set("w", "1")
    if not COMPARING_WITH_REDIS:
        assert r.wait(1, 2000) >= 1  # a committed write is on a majority: 1 other node at least
        assert r.wait(2, 5000) == 2  # and reaches every node of a healthy cluster
    assert error(r, "WAIT", "0", "-1") == "timeout is negative"
    assert error(r, "WAIT", "abc", "0") == NOT_INTEGER
    assert_arity_errors(r, [["TIME", "x"], ["WAIT", "0"]])


# ---------------------------------------------------------------- transactions


def test_multi_exec_discard(r, protocol):
    conn = RawConnection(r)
    try:
        assert conn("MULTI") == b"OK"
        assert [conn(*c) for c in (["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["PING"])] == [b"QUEUED"] * 4
        assert conn("EXEC") == [b"OK", 2, b"2", b"PONG"]
        assert conn("MULTI") == b"OK" and str(conn("MULTI")) == "MULTI calls can not be nested"
        assert conn("INCR", "a") == b"QUEUED" and conn("DISCARD") == b"OK"
        assert conn("GET", "a") == b"2"  # the discarded INCR never ran
        assert str(conn("DISCARD")) == "DISCARD without MULTI" and str(conn("EXEC")) == "EXEC without MULTI"
        assert conn("MULTI") == b"OK" and conn("EXEC") == []

        # SELECT inside MULTI switches the database of the commands after it.
        conn("MULTI")
        for c in (["SELECT", "1"], ["SET", "x", "1"], ["SELECT", "0"], ["GET", "x"]):
            assert conn(*c) == b"QUEUED"
        assert conn("EXEC") == [b"OK", b"OK", b"OK", None]
        conn("SELECT", 1)
        assert conn("GET", "x") == b"1"
    finally:
        conn.close(disconnect=True)
    p = r.pipeline(transaction=True)
    p.set("t", 1).incr("t").get("t").sadd("s", "m").smembers("s")
    assert p.execute() == [True, 2, b"2", 1, {b"m"}]


def test_exec_errors_queue_time_and_run_time(r):
    conn = RawConnection(r)
    try:
        conn("SET", "a", "before")
        # Queue-time errors (arity, unknown command) abort the whole transaction.
        assert conn("MULTI") == b"OK" and conn("SET", "a", "x") == b"QUEUED"
        assert str(conn("SET", "a")) == "wrong number of arguments for 'set' command"
        assert str(conn("EXEC")) == EXECABORT and conn("GET", "a") == b"before"
        conn("MULTI")
        assert str(conn("NOSUCH", "x")) == "unknown command 'NOSUCH', with args beginning with: 'x' "
        assert conn("SET", "a", "y") == b"QUEUED" and str(conn("EXEC")) == EXECABORT
        assert conn("GET", "a") == b"before"

        # Run-time errors are reported in their place; the other commands keep their effects.
        conn("MULTI")
        for c in (["SET", "b", "x"], ["INCR", "b"], ["LPUSH", "b", "y"], ["SET", "c", "1"], ["GET", "c"]):
            assert conn(*c) == b"QUEUED"
        results = conn("EXEC")
        assert [str(x) if isinstance(x, Exception) else x for x in results] == \
            [b"OK", NOT_INTEGER, WRONGTYPE, b"OK", b"1"]
        assert conn("GET", "b") == b"x" and conn("GET", "c") == b"1"
    finally:
        conn.close(disconnect=True)
    p = r.pipeline(transaction=True)
    p.set("d", "x").incr("d").set("e", "1")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        p.execute()
    assert r.mget("d", "e") == [b"x", b"1"]


def test_watch_unwatch(r, protocol, cluster):
    other = client(cluster.leader(), protocol)
    conn = RawConnection(r)
    try:
        conn("SET", "k", "0")
        assert conn("WATCH", "k") == b"OK"
        other.set("k", "changed")
        conn("MULTI")
        conn("SET", "k", "mine")
        assert conn("EXEC") is None and conn("GET", "k") == b"changed"  # nil: nothing ran

        assert conn("WATCH", "k") == b"OK"
        other.set("unrelated", "1")
        conn("MULTI")
        conn("INCR", "n")
        assert conn("EXEC") == [1]  # an untouched watched key lets EXEC run

        conn("WATCH", "k")
        other.set("k", "again")
        assert conn("UNWATCH") == b"OK"
        conn("MULTI")
        conn("INCR", "n")
        assert conn("EXEC") == [2]  # UNWATCH forgot the key

        conn("WATCH", "k")
        conn("SET", "k", "self")  # a write by the watching connection itself counts too
        conn("MULTI")
        conn("INCR", "n")
        assert conn("EXEC") is None and conn("GET", "n") == b"2"

        conn("WATCH", "missing")
        other.set("missing", "now")  # a watched key that appears is a change
        conn("MULTI")
        conn("INCR", "n")
        assert conn("EXEC") is None

        conn("WATCH", "k")
        conn("MULTI")
        assert str(conn("WATCH", "k")) == "WATCH inside MULTI is not allowed"
        assert conn("DISCARD") == b"OK"
        other.set("k", "after-discard")
        conn("MULTI")
        conn("INCR", "n")
        assert conn("EXEC") == [3]  # DISCARD also unwatches
    finally:
        conn.close(disconnect=True)

    with r.pipeline(transaction=True) as p:
        p.watch("w")
        other.set("w", "changed")
        p.multi()
        p.set("w", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"changed"
    assert_arity_errors(r, [["WATCH"], ["MULTI", "x"], ["DISCARD", "x"], ["UNWATCH", "x"]])


def test_transaction_through_a_follower(cluster, protocol):
    _, follower = leader_and_follower(cluster)
    f = linearizable(client(follower, protocol))
    f.set("balance", "100")
    with f.pipeline(transaction=True) as p:
        p.watch("balance")
        balance = int(p.get("balance"))
        p.multi()
        p.set("balance", balance - 30).rpush("ledger", "-30").hincrby("totals", "spent", 30)
        assert p.execute() == [True, 1, 30]
    assert same_on_every_node(cluster, protocol, lambda c: (c.get("balance"), c.lrange("ledger", 0, -1),
                                                            c.hgetall("totals"))) == \
        (b"70", [b"-30"], {b"spent": b"30"})


def test_pipeline_through_a_follower_is_one_batch_in_order(cluster, protocol):
    """A non-transactional pipeline sent to a follower reaches the leader as one
    batch (a few log entries, not one per write), in order, reads seeing the
    writes before them."""
    leader, follower = leader_and_follower(cluster)
    f, lead = client(follower, protocol), client(leader, protocol)
    if not COMPARING_WITH_REDIS:
        before = lead.info("replication")["raftcache_commit_index"]
    with f.pipeline(transaction=False) as p:
        for i in range(200):
            p.set("seq", i)
            p.incr("count")
        p.rpush("order", *range(5)).lrange("order", 0, -1)
        p.execute_command("SET", "seq", "x", "EX", "0")   # an argument error in the middle
        p.get("seq")
        results = p.execute(raise_on_error=False)
    assert results[:4] == [True, 1, True, 2] and results[398:400] == [True, 200]
    assert results[400:402] == [5, [b"0", b"1", b"2", b"3", b"4"]]
    assert isinstance(results[402], redis.ResponseError) and results[403] == b"199"
    assert same_on_every_node(cluster, protocol, lambda c: (c.get("seq"), c.get("count"))) == (b"199", b"200")
    if not COMPARING_WITH_REDIS:
        assert lead.info("replication")["raftcache_commit_index"] - before < 50, "one entry per write"

