"""The nodes' logs over a whole run (--log-format json, DEBUG): one JSON event per line naming
the node, with the term and index once Raft runs, and never the cluster secret or a password,
whatever the clients did with them (AUTH, HELLO, CONFIG SET requirepass, ACL SETUSER, MONITOR,
SLOWLOG) and through a leader change."""

from __future__ import annotations

import json
import socket

import redis

from raftcache.localcluster import wait_until

PASSWORDS = ("pw-Initial-9f3a", "pw-Wrong-77ab", "pw-Changed-11cd", "pw-Alice-55ef", "pw-Hello-0b1c")


def _client(node, password: str, **kw) -> redis.Redis:
    host, port = node.redis_address
    return redis.Redis(host=host, port=port, password=password, socket_timeout=10, **kw)


def test_json_logs_name_node_term_index_and_hold_no_secret(make_cluster):
    cluster = make_cluster(3, password=PASSWORDS[0], extra_args=["--log-format", "json", "--log-level", "DEBUG"])
    leader = cluster.leader()
    r = _client(leader, PASSWORDS[0])
    r.config_set("slowlog-log-slower-than", 0)
    monitor = socket.create_connection(leader.redis_address, timeout=10)
    monitor.sendall(b"AUTH %s\r\nMONITOR\r\n" % PASSWORDS[0].encode())
    r.set("k", "v")
    try:
        _client(leader, PASSWORDS[1]).ping()
    except redis.AuthenticationError:
        pass
    r.execute_command("ACL", "SETUSER", "alice", "on", f">{PASSWORDS[3]}", "~*", "+@all")
    _client(leader, PASSWORDS[3], username="alice").set("a", "1")
    r.execute_command("ACL", "SETUSER", "bob", "on", f">{PASSWORDS[4]}", "~*", "+@all")
    _client(leader, PASSWORDS[0]).execute_command("HELLO", "3", "AUTH", "bob", PASSWORDS[4], "SETNAME", "bob")
    r.config_set("requirepass", PASSWORDS[2])
    _client(leader, PASSWORDS[2]).execute_command("SLOWLOG", "GET", "-1")
    monitor.close()
    cluster.password = PASSWORDS[2]
    # a leader change: the new leader logs the election with its term
    cluster.kill(leader)
    new_leader = wait_until(lambda: next((n for n in cluster.alive_nodes() if cluster.status(n).role == "leader"),
                                         None), 30, "a new leader")
    _client(new_leader, PASSWORDS[2]).set("after", "x")
    cluster.restart(leader)
    cluster.leader()

    events = []
    for node in cluster.nodes:
        with open(node.log_path, encoding="utf-8") as f:
            text = f.read()
        assert cluster.secret not in text, f"{node.id}'s log holds the cluster secret"
        for password in PASSWORDS:
            assert password not in text, f"{node.id}'s log holds a password"
        for line in text.splitlines():
            if not line.startswith("{"):
                continue   # what the interpreter itself prints (none expected)
            event = json.loads(line)
            assert event["node"] == node.id and {"ts", "level", "logger", "term", "index", "msg"} <= set(event)
            events.append(event)
    assert len(events) >= 10
    assert any(e["msg"].startswith("leader is ") and e["term"] > 1 for e in events)
    assert any(e["index"] > 0 for e in events)
