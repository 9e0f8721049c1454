"""The ACL command and per-command checks of the Redis port, fed raw bytes (tests/unit/resp_fakes.py):
users through the state machine, AUTH with a username, -NOPERM, ACL LOG, MULTI, and no password in
the clear in what is stored."""

from __future__ import annotations

import asyncio
import types

from raftcache.node.commands import acl
from raftcache.node.frontends import acl_catalog
from raftcache.proto import commands_pb2 as pb
from tests.unit.resp_fakes import Client, cmd


def run(coro):
    return asyncio.run(coro)


def test_setuser_auth_and_noperm(service):
    async def go():
        admin = Client(service)
        assert await admin.send(cmd("ACL", "SETUSER", "alice", "on", ">apw", "~app:*", "+@read", "+set")) == b"+OK\r\n"
        alice = Client(service)
        assert await alice.send(cmd("AUTH", "alice", "nope")) == \
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert await alice.send(cmd("AUTH", "alice", "apw")) == b"+OK\r\n"
        assert await alice.send(cmd("ACL", "WHOAMI")) == \
            b"-NOPERM User alice has no permissions to run the 'acl|whoami' command\r\n"
        assert await alice.send(cmd("SET", "app:1", "v")) == b"+OK\r\n"
        assert await alice.send(cmd("GET", "app:1")) == b"$1\r\nv\r\n"
        assert await alice.send(cmd("GET", "other")) == b"-NOPERM No permissions to access a key\r\n"
        assert await alice.send(cmd("FLUSHALL")) == \
            b"-NOPERM User alice has no permissions to run the 'flushall' command\r\n"
        assert await alice.send(cmd("CONFIG", "SET", "requirepass", "x")) == \
            b"-NOPERM User alice has no permissions to run the 'config|set' command\r\n"
        log = await admin.send(cmd("ACL", "LOG"))
        assert b"config|set" in log and b"flushall" in log and b"other" in log and b"auth" in log
        assert await admin.send(cmd("ACL", "LOG", "RESET")) == b"+OK\r\n"
        assert await admin.send(cmd("ACL", "LOG")) == b"*0\r\n"
    run(go())


def test_a_refused_command_aborts_multi(service):
    async def go():
        admin = Client(service)
        await admin.send(cmd("ACL", "SETUSER", "bob", "on", "nopass", "~*", "+@all", "-flushdb"))
        bob = Client(service)
        assert await bob.send(cmd("AUTH", "bob", "x")) == b"+OK\r\n"
        await bob.send(cmd("MULTI"))
        assert await bob.send(cmd("SET", "k", "v")) == b"+QUEUED\r\n"
        assert (await bob.send(cmd("FLUSHDB"))).startswith(b"-NOPERM")
        assert await bob.send(cmd("EXEC")) == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        assert b"multi" in await admin.send(cmd("ACL", "LOG", "1"))
    run(go())


def test_read_commands_of_the_acl(service):
    async def go():
        c = Client(service)
        await c.send(cmd("ACL", "SETUSER", "carol", "on", ">pw", "%R~r:*", "+get", "(+set ~s*)"))
        assert await c.send(cmd("ACL", "USERS")) == b"*2\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n"
        assert await c.send(cmd("ACL", "WHOAMI")) == b"$7\r\ndefault\r\n"
        listed = await c.send(cmd("ACL", "LIST"))
        assert b"user carol on #" + acl.sha256_hex(b"pw").encode() + b" %R~r:* resetchannels -@all +get " \
               b"(~s* resetchannels -@all +set)" in listed
        assert await c.send(cmd("ACL", "GETUSER", "nobody")) == b"$-1\r\n"
        assert b"passwords" in await c.send(cmd("ACL", "GETUSER", "carol"))
        assert await c.send(cmd("ACL", "DRYRUN", "carol", "GET", "r:1")) == b"+OK\r\n"
        assert await c.send(cmd("ACL", "DRYRUN", "carol", "SET", "s1", "v")) == b"+OK\r\n"
        # the root refuses SET, the selector refuses the key: Redis names the more relevant (the key)
        assert (await c.send(cmd("ACL", "DRYRUN", "carol", "SET", "r:1", "v"))).endswith(
            b"\r\nThis user has no permissions to access the 'r:1' key\r\n")
        assert (await c.send(cmd("ACL", "DRYRUN", "carol", "DEL", "s1"))).endswith(
            b"\r\nThis user has no permissions to run the 'del' command\r\n")
        assert await c.send(cmd("ACL", "DRYRUN", "nobody", "GET", "x")) == b"-ERR User 'nobody' not found\r\n"
        assert len(await c.send(cmd("ACL", "GENPASS"))) == len(b"$64\r\n") + 64 + 2
        assert await c.send(cmd("ACL", "GENPASS", "5")) in {b"$2\r\n%02x\r\n" % i for i in range(256)}
        assert b"keyspace" in await c.send(cmd("ACL", "CAT"))
        assert b"flushall" in await c.send(cmd("ACL", "CAT", "dangerous"))
        assert await c.send(cmd("ACL", "CAT", "nope")) == b"-ERR Unknown category 'nope'\r\n"
        assert await c.send(cmd("ACL", "SETUSER", "carol", "+nope")) == \
            b"-ERR Error in ACL SETUSER modifier '+nope': Unknown command or category name in ACL\r\n"
        assert await c.send(cmd("ACL", "DELUSER", "default")) == b"-ERR The 'default' user cannot be removed\r\n"
        assert await c.send(cmd("ACL", "DELUSER", "carol", "nobody")) == b":1\r\n"
        assert await c.send(cmd("ACL", "LOAD")) == (
            b"-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the "
            b"ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) "
            b"in order to store users in the Redis configuration.\r\n")
    run(go())


def test_a_deleted_user_is_logged_out(service):
    async def go():
        admin = Client(service)
        await admin.send(cmd("ACL", "SETUSER", "dave", "on", "nopass", "+@all", "~*"))
        dave = Client(service)
        await dave.send(cmd("AUTH", "dave", "x"))
        assert await dave.send(cmd("PING")) == b"+PONG\r\n"
        await admin.send(cmd("ACL", "DELUSER", "dave"))
        assert await dave.send(cmd("PING")) == b"-NOAUTH Authentication required.\r\n"
    run(go())


def test_requirepass_is_the_default_user_s_password_stored_hashed(service):
    async def go():
        c = Client(service)
        assert await c.send(cmd("CONFIG", "SET", "requirepass", "pa55word")) == b"+OK\r\n"
        digest = acl.sha256_hex(b"pa55word").encode()
        assert await c.send(cmd("CONFIG", "GET", "requirepass")) == \
            b"*2\r\n$11\r\nrequirepass\r\n$65\r\n#" + digest + b"\r\n"
        fresh = Client(service)
        assert await fresh.send(cmd("GET", "k")) == b"-NOAUTH Authentication required.\r\n"
        assert await fresh.send(cmd("AUTH", "pa55word")) == b"+OK\r\n"
        await c.send(cmd("ACL", "SETUSER", "erin", "on", ">erin-password", "+@all"))
        for command in service.executed:  # what was proposed: digests only
            assert b"pa55word" not in command.SerializeToString()
            assert b"erin-password" not in command.SerializeToString()
        with service.keyspace.reader() as txn:
            stored = b"".join(k + v for k, v in txn.meta_range(b"", 10_000))
        assert digest in stored and b"pa55word" not in stored and b"erin-password" not in stored
        assert await c.send(cmd("CONFIG", "SET", "requirepass", "")) == b"+OK\r\n"
        assert await Client(service).send(cmd("GET", "k")) == b"$-1\r\n"
    run(go())


def test_the_node_password_carries_into_the_first_change_of_the_default_user(service):
    async def go():
        c = Client(service, password="node-pw")
        assert await c.send(cmd("AUTH", "node-pw")) == b"+OK\r\n"
        assert await c.send(cmd("ACL", "SETUSER", "default", "-flushall")) == b"+OK\r\n"
        fresh = Client(service, password="node-pw")
        assert await fresh.send(cmd("AUTH", "node-pw")) == b"+OK\r\n"
        assert (await fresh.send(cmd("FLUSHALL"))).startswith(b"-NOPERM")
    run(go())


def test_a_scripts_caller_is_stamped_by_the_port_for_restricted_users_from_log_version_18():
    """Eval.user and Eval.caller are the port's to set: a client's own values are replaced.
    Before version 17 only a user this node knows as restricted is named; from 17 every
    caller; the caller's node and connection (for the ACL LOG) only for a restricted or
    unknown user, from version 18."""
    users = {"default": types.SimpleNamespace(unrestricted=True), "bob": types.SimpleNamespace(unrestricted=False)}
    got = {}
    for version in (16, 17, 18):
        service = types.SimpleNamespace(log_version=version, identity=types.SimpleNamespace(users=users),
                                        script_caller=lambda info: "n1\n" + info)
        for who in (None, "bob", "ghost"):
            command = pb.Command(transaction=pb.Transaction(commands=[
                pb.Command(eval=pb.Eval(body=b"return 1", user="forged", caller="forged"))]))
            acl_catalog.stamp_script_caller(command, who, service, lambda: "7")
            op = command.transaction.commands[0].eval
            got[version, who] = (op.user, op.caller)
    assert got == {
        (16, None): ("", ""), (16, "bob"): ("bob", ""), (16, "ghost"): ("", ""),
        (17, None): ("default", ""), (17, "bob"): ("bob", ""), (17, "ghost"): ("ghost", ""),
        (18, None): ("default", ""), (18, "bob"): ("bob", "n1\n7"), (18, "ghost"): ("ghost", "n1\n7"),
    }
