"""Every port of a cluster that needs a password: strangers are refused everything, ACL users are
replicated and honoured alike on the Redis, memcached and gRPC ports (and on Admin calls), survive a
restart and a restore, and no password or secret is ever written in the clear (docs/security.md).

One 3-node cluster for the module (its default user has a password); a 1-node cluster restored from
its backup; a redis-server, when installed, to compare ACL DRYRUN answers rule by rule.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
import redis

from raftcache.client import Client, PermissionDeniedError
from raftcache.client.auth import basic_metadata
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb
from raftcache.client.admin import SECRET_METADATA
from raftcache.localcluster import free_base_port, wait_until
from tests.integration.secure_cluster import PASSWORD, SecureCluster, memcached_exchange

ALICE_PW = "alice-pw-5be07d"
ALICE = ["on", f">{ALICE_PW}", "~app:*", "+@read", "+@write", "-@dangerous"]


@pytest.fixture(scope="module")
def sc(tmp_path_factory):
    cluster = SecureCluster(str(tmp_path_factory.mktemp("secure")), 3)
    try:
        cluster.start()
        cluster.redis(cluster.leader()).acl_setuser("alice", reset=True, enabled=True, passwords=[f"+{ALICE_PW}"],
                                                    keys=["app:*"], commands=["+@read", "+@write", "-@dangerous"])
        yield cluster
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        cluster.close()


def _rpc_code(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as e:
        return e.code()
    return None


# ---------------------------------------------------------------- strangers

def test_a_stranger_cannot_read_write_reconfigure_or_flush_through_any_port(sc):
    leader = sc.leader()
    admin = sc.redis(leader)
    assert admin.set("precious", "data")
    for node in sc.nodes:
        stranger = sc.redis(node, password=None)
        for command in (("GET", "precious"), ("FLUSHALL",), ("CONFIG", "SET", "requirepass", "attacker")):
            with pytest.raises(redis.AuthenticationError):
                stranger.execute_command(*command)
        # memcached: the flush_all, and a read
        reply = memcached_exchange(node.memcached_address, b"flush_all\r\nget precious\r\n", 2)
        assert reply == b"CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR unauthenticated\r\n"
        # gRPC Cache: reads, writes, the ConfigSet requirepass=attacker, FLUSHALL
        cache = cache_pb2_grpc.CacheStub(grpc.insecure_channel(node.grpc_address))
        attacks = [pb.Command(get=pb.Get(key=b"precious")), pb.Command(flush_all=pb.FlushAll()),
                   pb.Command(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="requirepass",
                                                                                value="attacker")]))]
        for command in attacks:
            for metadata in (None, (basic_metadata(None, "attacker"),), (("authorization", "Bearer x"),)):
                assert _rpc_code(lambda: cache.Execute(cache_pb2.Request(command=command), timeout=5,
                                                       metadata=metadata)) == grpc.StatusCode.UNAUTHENTICATED
        # gRPC Admin: nothing without credentials or the secret
        admin_stub = admin_pb2_grpc.AdminStub(grpc.insecure_channel(node.grpc_address))
        assert _rpc_code(lambda: admin_stub.Status(admin_pb2.StatusRequest(), timeout=5)) == \
            grpc.StatusCode.UNAUTHENTICATED
        assert _rpc_code(lambda: next(iter(admin_stub.Backup(admin_pb2.BackupRequest(), timeout=5)))) == \
            grpc.StatusCode.UNAUTHENTICATED
        assert _rpc_code(lambda: admin_stub.TransferLeader(admin_pb2.TransferLeaderRequest(), timeout=5)) == \
            grpc.StatusCode.UNAUTHENTICATED
        # HTTP: health and status stay readable (--http-auth no), nothing changes state
        host, port = node.http_address
        with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=5) as response:
            assert response.status == 200
        request = urllib.request.Request(f"http://{host}:{port}/status", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="405"):
            urllib.request.urlopen(request, timeout=5)
    assert admin.get("precious") == b"data"
    assert sc.redis(sc.nodes[1]).ping()  # the password was not changed


def test_the_raft_port_refuses_a_stranger(sc):
    node = sc.nodes[0]
    with socket.create_connection((node.peer.host, node.peer.port("raft")), timeout=5) as s:
        s.sendall(b"\x00\x00\x00\x10" + b"x" * 16)  # a frame that does not decrypt with the secret
        try:
            assert s.recv(100) == b""                      # closed, nothing answered
        except ConnectionResetError:
            pass
    assert sc.redis(sc.leader()).ping()


# ---------------------------------------------------------------- users, on every node and port

def test_a_user_made_on_one_node_is_honoured_on_every_node(sc):
    follower = sc.followers()[0]
    sc.redis(follower).acl_setuser("bob", reset=True, enabled=True, passwords=["+bob-pw-18a1"], keys=["*"],
                                   commands=["+@all"])
    for node in sc.nodes:
        wait_until(lambda: sc.redis(node, "bob", "bob-pw-18a1").ping(), 10, f"bob on {node.id}")
        assert sc.redis(node, "bob", "bob-pw-18a1").acl_whoami() == "bob"
    assert sc.redis(sc.leader()).acl_deluser("bob") == 1
    for node in sc.nodes:
        def refused():
            try:
                sc.redis(node, "bob", "bob-pw-18a1").ping()
            except redis.AuthenticationError:
                return True
        wait_until(refused, 10, f"bob gone from {node.id}")


def test_acl_rules_through_redis_py(sc):
    r = sc.redis(sc.leader())
    assert r.acl_setuser("carol", reset=True, enabled=True, nopass=True, keys=["%R~r:*", "%W~w:*", "~rw:*"],
                         commands=["+@all", "-@dangerous", "-config"])
    r.execute_command("ACL", "SETUSER", "carol", "(+ping", "~sel:*)")
    carol = sc.redis(sc.leader(), "carol", "x")
    assert carol.set("w:1", "v") and carol.get("rw:1") is None
    with pytest.raises(redis.exceptions.NoPermissionError, match="No permissions to access a key"):
        carol.get("w:1")
    with pytest.raises(redis.exceptions.NoPermissionError, match="No permissions to access a key"):
        carol.set("r:1", "v")
    with pytest.raises(redis.exceptions.NoPermissionError,
                       match="User carol has no permissions to run the 'flushall' command"):
        carol.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError, match="'config\\|get'"):
        carol.config_get("maxmemory")
    user = r.acl_getuser("carol")
    assert user["flags"] == ["on", "nopass"] and user["keys"] == ["%R~r:*", "%W~w:*", "~rw:*"]
    assert user["categories"] == ["+@all", "-@dangerous"] and user["commands"] == ["-config"]
    assert r.execute_command("ACL", "DRYRUN", "carol", "GET", "r:1") == b"OK"
    assert b"'w:1' key" in r.execute_command("ACL", "DRYRUN", "carol", "GET", "w:1")
    assert "carol" in r.acl_users() and any(line.startswith("user carol on nopass") for line in r.acl_list())
    log = r.acl_log()
    assert log and log[0]["username"] == "carol" and log[0]["reason"] in ("command", "key")
    assert len(r.acl_genpass()) == 64 and "dangerous" in r.acl_cat()


def test_the_same_user_is_refused_the_same_command_on_every_port(sc):
    node = sc.followers()[0]
    redis_alice = sc.redis(node, "alice", ALICE_PW)
    mc_login = f"set auth 0 0 {len('alice ' + ALICE_PW)}\r\nalice {ALICE_PW}\r\n".encode()
    with Client([node.grpc_address], username="alice", password=ALICE_PW) as grpc_alice:
        # allowed everywhere: writes and reads of app:*
        assert redis_alice.set("app:r", "1") and grpc_alice.set("app:g", "2")
        assert memcached_exchange(node.memcached_address, mc_login + b"set app:m 0 0 1\r\n3\r\n", 2) == \
            b"STORED\r\nSTORED\r\n"
        assert grpc_alice.get("app:m") == b"3" and redis_alice.get("app:g") == b"2"
        # refused everywhere: a key outside app:*, and FLUSHALL (@dangerous)
        with pytest.raises(redis.exceptions.NoPermissionError):
            redis_alice.set("other", "x")
        with pytest.raises(PermissionDeniedError, match="No permissions to access a key"):
            grpc_alice.set("other", "x")
        assert memcached_exchange(node.memcached_address, mc_login + b"set other 0 0 1\r\nx\r\n", 2) == \
            b"STORED\r\nCLIENT_ERROR NOPERM No permissions to access a key\r\n"
        with pytest.raises(redis.exceptions.NoPermissionError):
            redis_alice.flushall()
        with pytest.raises(PermissionDeniedError, match="'flushall' command"):
            grpc_alice.flushall()
        assert memcached_exchange(node.memcached_address, mc_login + b"flush_all\r\n", 2) == \
            b"STORED\r\nCLIENT_ERROR NOPERM User alice has no permissions to run the 'flushdb' command\r\n"
    assert sc.redis(node).get("app:r") == b"1"


def test_channel_patterns_hold_for_pub_sub_on_redis_and_grpc(sc):
    r = sc.redis(sc.leader())
    r.execute_command("ACL", "SETUSER", "dana", "reset", "on", ">dana-pw-77", "&news.*", "+@pubsub", "+ping")
    dana = sc.redis(sc.leader(), "dana", "dana-pw-77")
    assert dana.publish("news.today", "hello") >= 0
    with pytest.raises(redis.exceptions.NoPermissionError, match="No permissions to access a channel"):
        dana.publish("sport", "x")
    pubsub = dana.pubsub()
    pubsub.subscribe("news.1")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    pubsub.close()
    with socket.create_connection(sc.leader().redis_address, timeout=5) as raw:
        raw.sendall(b"AUTH dana dana-pw-77\r\nSUBSCRIBE sport\r\n")
        reply = b""
        while reply.count(b"\r\n") < 2:
            reply += raw.recv(4096)
    assert reply == b"+OK\r\n-NOPERM No permissions to access a channel\r\n"
    assert r.execute_command("ACL", "DRYRUN", "dana", "PSUBSCRIBE", "news.*") == b"OK"
    assert b"'n*' channel" in r.execute_command("ACL", "DRYRUN", "dana", "PSUBSCRIBE", "n*")  # patterns: literally
    cache = cache_pb2_grpc.CacheStub(grpc.insecure_channel(sc.leader().grpc_address))
    stream = cache.Subscribe(cache_pb2.SubscribeRequest(channels=[b"sport"]), timeout=5,
                             metadata=(basic_metadata("dana", "dana-pw-77"),))
    assert _rpc_code(lambda: next(iter(stream))) == grpc.StatusCode.PERMISSION_DENIED


def test_a_grpc_write_cannot_evict_by_memcacheds_rule(sc):
    """Command.eviction = EVICT_LRU (the memcached port's: any key of database 0 may go, whatever
    the policy) from a gRPC client is refused, alone, in a Pipeline and inside a transaction: a
    user allowed only app:* could otherwise evict other users' keys under `noeviction`. EVICT_NEVER
    (stricter than the policy) is taken, and memcached's own writes forwarded by a follower still
    evict by their rule (tests/integration/test_eviction.py)."""
    channel = grpc.insecure_channel(sc.leader().grpc_address)
    cache = cache_pb2_grpc.CacheStub(channel)
    alice = (basic_metadata("alice", ALICE_PW),)

    def set_command(key: bytes, eviction) -> pb.Command:
        return pb.Command(set=pb.Set(key=key, value=b"v"), eviction=eviction)
    lru = set_command(b"app:lru", pb.EVICT_LRU)
    in_transaction = pb.Command(transaction=pb.Transaction(commands=[set_command(b"app:tx", pb.EVICT_LRU)]))
    for command in (lru, in_transaction):
        with pytest.raises(grpc.RpcError) as refused:
            cache.Execute(cache_pb2.Request(command=command), timeout=5, metadata=alice)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "EVICT_LRU" in refused.value.details()
    batch = cache_pb2.RequestBatch(requests=[cache_pb2.Request(command=lru)])
    replies = list(cache.Pipeline(iter([batch]), timeout=5, metadata=alice))
    assert "EVICT_LRU" in replies[0].replies[0].value.error.message
    never = cache.Execute(cache_pb2.Request(command=set_command(b"app:never", pb.EVICT_NEVER)), timeout=5,
                          metadata=alice)
    assert never.value.status == "OK"
    r = sc.redis(sc.leader())
    assert r.exists("app:lru", "app:tx") == 0 and r.get("app:never") == b"v"


def test_admin_calls_obey_the_acl(sc):
    node = sc.leader()
    channel = grpc.insecure_channel(node.grpc_address)
    cache = cache_pb2_grpc.CacheStub(channel)
    config_set = cache_pb2.Request(command=pb.Command(config_set=pb.ConfigSet(
        parameters=[pb.ConfigPair(name="timeout", value="0")])))
    alice = (basic_metadata("alice", ALICE_PW),)
    assert _rpc_code(lambda: cache.Execute(config_set, timeout=5, metadata=alice)) == grpc.StatusCode.PERMISSION_DENIED
    assert cache.Execute(config_set, timeout=5, metadata=(basic_metadata(None, PASSWORD),)).value.status == "OK"
    admin = admin_pb2_grpc.AdminStub(channel)
    assert admin.Topology(admin_pb2.TopologyRequest(), timeout=5, metadata=alice).leader_id
    with_secret = alice + ((SECRET_METADATA, sc.secret),)
    assert _rpc_code(lambda: admin.TransferLeader(admin_pb2.TransferLeaderRequest(), timeout=5,
                                                  metadata=with_secret)) == grpc.StatusCode.PERMISSION_DENIED
    assert _rpc_code(lambda: admin.TransferLeader(admin_pb2.TransferLeaderRequest(), timeout=5, metadata=alice)) \
        == grpc.StatusCode.PERMISSION_DENIED


def test_sort_patterns_need_every_key_on_redis_and_grpc(sc):
    """SORT ... BY pattern / GET read keys the command does not name (Redis 7): a user whose keys
    are limited may sort its own list, not read others' keys through it, on any port."""
    node = sc.leader()
    sc.redis(node).acl_setuser("sorter", reset=True, enabled=True, passwords=["+sorter-pw-8d2"], keys=["app:*"],
                               commands=["+sort", "+sort_ro", "+rpush"])
    sorter = sc.redis(node, "sorter", "sorter-pw-8d2")
    sorter.rpush("app:ids", 2, 1)
    sc.redis(node).set("secret:1", "hidden")
    assert sorter.sort("app:ids") == [b"1", b"2"]
    for kwargs in ({"get": "secret:*"}, {"by": "secret:*"}):
        with pytest.raises(redis.exceptions.ResponseError, match="option of SORT denied"):
            sorter.sort("app:ids", **kwargs)
    cache = cache_pb2_grpc.CacheStub(grpc.insecure_channel(node.grpc_address))
    metadata = (basic_metadata("sorter", "sorter-pw-8d2"),)
    plain = pb.Command(sort=pb.Sort(key=b"app:ids"))
    assert list(cache.Execute(cache_pb2.Request(command=plain), timeout=5, metadata=metadata).value.array.items)
    for op in (pb.Sort(key=b"app:ids", get=[b"secret:*"]), pb.Sort(key=b"app:ids", by=b"secret:*"),
               pb.Sort(key=b"app:ids", by=b"secret:*", store=b"app:out")):
        command = pb.Command(sort_store=op) if op.store else pb.Command(sort=op)
        with pytest.raises(grpc.RpcError) as refused:
            cache.Execute(cache_pb2.Request(command=command), timeout=5, metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "option of SORT denied" in refused.value.details()


def test_requirepass_and_acl_changes_through_grpc_are_hashed_and_need_admin(sc):
    node = sc.nodes[2]
    cache = cache_pb2_grpc.CacheStub(grpc.insecure_channel(node.grpc_address))
    set_user = pb.Command(acl_set_user=pb.AclSetUser(name="grpcuser", rules=[b"on", b">grpc-user-pw-3c11", b"+ping"]))
    default = (basic_metadata(None, PASSWORD),)
    assert cache.Execute(cache_pb2.Request(command=set_user), timeout=10, metadata=default).value.status == "OK"
    wait_until(lambda: sc.redis(node, "grpcuser", "grpc-user-pw-3c11").ping(), 10, "grpcuser")
    alice = (basic_metadata("alice", ALICE_PW),)
    assert _rpc_code(lambda: cache.Execute(cache_pb2.Request(command=set_user), timeout=5, metadata=alice)) == \
        grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- restart, backup, restore

def test_users_survive_a_restart(sc):
    node = sc.followers()[0]
    sc.stop(node)
    sc.restart(node)
    wait_until(lambda: sc.redis(node, "alice", ALICE_PW).set("app:after-restart", "1"), 20, "alice after restart")
    with pytest.raises(redis.exceptions.NoPermissionError):
        sc.redis(node, "alice", ALICE_PW).flushall()


def _ctl_backup(sc, out: str, *extra: str) -> None:
    env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=sc.secret, RAFTCACHE_PASSWORD=PASSWORD)
    subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--endpoint", sc.leader().grpc_address, "backup",
                    "--out", out, "--quiet", *extra], env=env, check=True, capture_output=True, timeout=120)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_users_survive_a_backup_and_an_encrypted_restore(sc):
    assert sc.redis(sc.leader(), "alice", ALICE_PW).set("app:backed-up", "value-in-the-backup")
    backups = os.path.join(sc.root, "backups")
    os.makedirs(backups, exist_ok=True)
    _ctl_backup(sc, os.path.join(backups, "plain.rcbak"))
    key = os.path.join(backups, "backup.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex())
    sealed = os.path.join(backups, "sealed.rcbak")
    _ctl_backup(sc, sealed, "--encrypt-key", key)
    with open(sealed, "rb") as f:
        assert b"value-in-the-backup" not in f.read()
    restored = SecureCluster(os.path.join(sc.root, "restored"), 1, password="",
                             extra_args=["--restore", sealed, "--backup-key", key])
    try:
        restored.start()
        node = restored.nodes[0]
        r = restored.redis(node, "alice", ALICE_PW)
        assert r.get("app:backed-up") == b"value-in-the-backup"
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.flushall()
        # the cluster never changed its default user: the restored node's own (no password) applies
        assert restored.redis(node, password=None).acl_whoami() == "default"
    finally:
        restored.close()


# ---------------------------------------------------------------- the ACL against redis-server's

_RULE_CASES = [
    (["~*", "+@read"], [("GET", "k"), ("SET", "k", "v"), ("KEYS", "*"), ("HGETALL", "h")]),
    (["~*", "+@all", "-@dangerous"], [("FLUSHALL",), ("SET", "k", "v"), ("SWAPDB", "0", "1"), ("INFO",)]),
    (["%R~r:*", "%W~w:*", "+@all"], [("GET", "r:1"), ("GET", "w:1"), ("SET", "w:1", "v"), ("SET", "r:1", "v"),
                                     ("INCR", "w:1"), ("APPEND", "w:1", "x"), ("EXISTS", "r:1", "w:1"),
                                     ("SET", "w:1", "v", "GET"), ("COPY", "r:1", "w:1"), ("RENAME", "w:1", "w:2"),
                                     ("SUNIONSTORE", "w:d", "r:a", "r:b"), ("LMOVE", "w:a", "w:b", "LEFT", "LEFT")]),
    (["~app:*", "+get", "(+set ~s:*)"], [("GET", "app:1"), ("SET", "app:1", "v"), ("SET", "s:1", "v"),
                                         ("GET", "s:1")]),
    (["~*", "+config|get", "+client", "-client|kill"], [("CONFIG", "GET", "x"), ("CONFIG", "SET", "x", "y"),
                                                        ("CLIENT", "ID"), ("CLIENT", "KILL", "ID", "1")]),
    (["~*", "+@all", "-@write", "+del"], [("DEL", "k"), ("SET", "k", "v"), ("GET", "k"), ("LPUSH", "l", "a")]),
    (["&news*", "+@all"], [("SSUBSCRIBE", "news"), ("SSUBSCRIBE", "other"), ("SUBSCRIBE", "news"), ("GET", "k"),
                           ("WATCH", "k"), ("OBJECT", "ENCODING", "k")]),
]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server to compare with")
    port = free_base_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir",
                             str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    client = redis.Redis("127.0.0.1", port)
    wait_until(client.ping, 10, "redis-server")
    yield client
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("rules, commands", _RULE_CASES)
def test_acl_dryrun_agrees_with_redis_server(sc, redis_server, rules, commands):
    ours = sc.redis(sc.leader())
    for r in (ours, redis_server):
        r.execute_command("ACL", "SETUSER", "diff", "reset", "on", "nopass", *rules)
    for command in commands:
        theirs = redis_server.execute_command("ACL", "DRYRUN", "diff", *command)
        mine = ours.execute_command("ACL", "DRYRUN", "diff", *command)
        assert (mine == b"OK") == (theirs == b"OK"), (rules, command, mine, theirs)


def test_a_malformed_command_on_a_key_outside_the_users_patterns_is_refused_first_as_in_redis_server(
        sc, redis_server):
    """Redis checks the ACL (the keys at the command's key positions) before the arguments: a
    key-limited user's malformed SET on someone else's key gets NOPERM, on its own key the
    argument error; inside a script the same order holds (ACL failure in script)."""
    ours = sc.redis(sc.leader())
    servers = {}
    for name, admin in (("raftcache", ours), ("redis", redis_server)):
        admin.execute_command("ACL", "SETUSER", "narrow", "reset", "on", ">narrow-pw-61c", "~app:*", "+@all")
        port = admin.connection_pool.connection_kwargs["port"]
        servers[name] = redis.Redis("127.0.0.1", port, username="narrow", password="narrow-pw-61c")

    def outcome(r, *args):   # the error's class, and whether it is a refusal by the ACL (7.0 and 7.2 word them apart)
        try:
            return ("ok", r.execute_command(*args))
        except redis.exceptions.ResponseError as e:
            text = str(e).lower()
            return (type(e).__name__, any(words in text for words in ("acl failure", "permissions", "can't access")))

    cases = [("SET", "other", "v", "EX", "soon"), ("SET", "app:1", "v", "EX", "soon"),
             ("EXPIRE", "other", "x"), ("EVAL", "return redis.call('set', 'other', 'v', 'EX', 'soon')", "0"),
             ("EVAL", "return redis.call('set', 'app:2', 'v', 'EX', 'soon')", "0")]
    for case in cases:
        mine, theirs = outcome(servers["raftcache"], *case), outcome(servers["redis"], *case)
        assert mine == theirs, (case, mine, theirs)
    assert [outcome(servers["raftcache"], *case) for case in cases[:2]] == [("NoPermissionError", True),
                                                                           ("ResponseError", False)]
    assert outcome(servers["raftcache"], *cases[3]) == ("ResponseError", True)


def test_a_scripts_acl_refusals_are_in_the_acl_log_of_the_node_serving_it_as_in_redis_server(sc, redis_server):
    """Redis logs a command a script may not run (even one redis.pcall caught) with context
    "lua" and the EVAL client's info; here the node the client is connected to logs it."""
    leader, follower = sc.leader(), sc.followers()[0]
    admins = {"redis": redis_server, "leader": sc.redis(leader), "follower": sc.redis(follower)}
    for name in ("redis", "leader"):
        admins[name].execute_command("ACL", "SETUSER", "lua-user", "reset", "on", ">lua-pw-7c", "~app:*",
                                     "+@all", "-incr")
    for admin in admins.values():
        admin.execute_command("ACL", "LOG", "RESET")

    def user_of(name):
        port = admins[name].connection_pool.connection_kwargs["port"]
        return redis.Redis("127.0.0.1", port, username="lua-user", password="lua-pw-7c")

    def lua_entries(admin):
        return [e for e in admin.acl_log() if e["context"] == "lua"]

    for name in ("redis", "follower"):
        client = user_of(name)
        with pytest.raises(redis.exceptions.ResponseError, match="ACL failure in script|can't run this command"):
            client.eval("return redis.call('incr', 'app:n')", 0)   # (Redis 7.0 and 7.2 word it apart)
        assert client.eval("return redis.pcall('incr', 'app:n')['err'] ~= nil", 0) == 1
        assert client.eval_ro("return redis.pcall('get', 'other')['err'] ~= nil", 1, "app:k") == 1
    wait_until(lambda: len(lua_entries(admins["follower"])) == 2, 10, "the follower to log the script's refusals")
    mine, theirs = lua_entries(admins["follower"]), lua_entries(admins["redis"])
    assert [(e["reason"], e["object"], e["username"], e["count"]) for e in mine] == \
        [(e["reason"], e["object"], e["username"], e["count"]) for e in theirs] == \
        [("key", "other", "lua-user", 1), ("command", "incr", "lua-user", 2)]
    assert [e["client-info"]["cmd"] for e in mine] == [e["client-info"]["cmd"] for e in theirs] == ["eval_ro", "eval"]
    assert lua_entries(admins["leader"]) == [], "only the node the client is connected to logs it"


# ---------------------------------------------------------------- secrets at rest (last: after everything above)

def test_no_password_or_secret_in_any_file_the_run_left(sc):
    time.sleep(0.5)  # journals and logs of the writes above
    secrets_used = [PASSWORD, ALICE_PW, "bob-pw-18a1", "grpc-user-pw-3c11", sc.secret]
    digest = hashlib.sha256(ALICE_PW.encode()).hexdigest().encode()
    found, digests = [], []
    for root, dirs, files in os.walk(sc.root):  # journals, LMDB, snapshots, membership, logs, the backup
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            found += [(path, s) for s in secrets_used if s.encode() in data]
            if digest in data:
                digests.append(path)
    # The launcher keeps the cluster secret in ROOT/cluster.secret (0600), as `raftcache up` does
    # for `ctl --data-dir`: the one file a secret is meant to be in.
    kept = [(path, s) for path, s in found if s == sc.secret and os.path.basename(path) == "cluster.secret"]
    assert all(stat.S_IMODE(os.stat(path).st_mode) == 0o600 for path, _ in kept)
    assert [f for f in found if f not in kept] == []
    assert any(p.endswith(".rcbak") for p in digests) and any("/raft/" in p for p in digests), digests
    for node in sc.nodes:
        for root, dirs, files in os.walk(node.data_dir):
            for name in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, os.path.join(root, name)
            for name in files:
                assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, os.path.join(root, name)


def test_a_grpc_clients_script_runs_its_commands_under_its_acl(sc):
    """A script sent over gRPC carries its restricted caller whatever the request says
    (Eval.user is the port's to set): its commands are checked as over RESP."""
    r = sc.redis(sc.leader())
    r.execute_command("ACL", "SETUSER", "erin", "reset", "on", ">erin-pw-31", "+@scripting", "+set", "~x*")
    cache = cache_pb2_grpc.CacheStub(grpc.insecure_channel(sc.followers()[0].grpc_address))
    erin = (basic_metadata("erin", "erin-pw-31"),)

    def run(body: str, user: str = "") -> object:
        request = cache_pb2.Request(command=pb.Command(eval=pb.Eval(body=body.encode(), user=user)))
        try:
            return cache.Execute(request, timeout=10, metadata=erin).value
        except grpc.RpcError as e:
            return e.details()
    assert run("return redis.call('set', 'xg', 'v')").status == "OK"
    for forged in ("", "default"):   # a forged or empty user changes nothing
        refused = run("return redis.call('set', 'yg', 'v')", forged)
        assert "ACL failure in script: No permissions to access a key" in refused, refused
    assert r.exists("yg") == 0 and r.get("xg") == b"v"
    served_by = sc.redis(sc.followers()[0])
    wait_until(lambda: [(e["reason"], e["object"], e["count"]) for e in served_by.acl_log()
                        if e["context"] == "lua" and e["username"] == "erin"] == [("key", "yg", 2)], 10,
               "the serving node's ACL LOG to record the script's refusals")
