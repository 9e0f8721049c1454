"""/health reflects reality (node/service/health.py): 200 only for a leader with recent
majority contact or a follower with recent leader contact, else 503, with the reason.

Reported bug: a leader whose two peers were dead was reported healthy for
over a minute (health was "a leader id is known").
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request

from raftcache.localcluster import wait_until

CONTACT_LIMIT_S = 2.0   # health.contact_max_s with the default election timeouts


def _health(node) -> tuple[int, dict]:
    host, port = node.http_address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_every_node_of_a_working_cluster_is_healthy(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    for node in cluster.nodes:
        code, body = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(_health(node)), 5,
                                f"{node.id} healthy")
        assert body["healthy"] is True
        if node is leader:
            assert body["role"] == "leader" and body["reason"].startswith("leader with quorum"), body
        else:
            assert body["role"] == "follower" and body["reason"].startswith("follower, leader contact"), body


def test_a_leader_without_its_peers_turns_unhealthy(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    for node in cluster.nodes:
        if node is not leader:
            cluster.kill(node)
    code, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(_health(leader)),
                            CONTACT_LIMIT_S + 3, "the lone survivor's /health to turn 503")
    assert body["healthy"] is False
    assert ("without quorum" in body["reason"] or "no leader contact" in body["reason"]
            or "never heard" in body["reason"]), body
    # and it stays unhealthy (no flapping back while it is alone)
    for _ in range(5):
        assert _health(leader)[0] == 503


def test_a_follower_whose_leader_died_is_unhealthy_until_a_new_leader_exists(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    follower, other = [n for n in cluster.nodes if n is not leader]
    # No new leader can be elected while `other` is paused and the leader is dead.
    other.proc.send_signal(signal.SIGSTOP)
    try:
        cluster.kill(leader)
        code, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(_health(follower)),
                                CONTACT_LIMIT_S + 3, f"{follower.id} /health to turn 503")
        assert "no leader contact" in body["reason"], body
        for _ in range(5):
            assert _health(follower)[0] == 503
    finally:
        other.proc.send_signal(signal.SIGCONT)
    # A new leader (follower or other) exists: healthy again.
    wait_until(lambda: _health(follower)[0] == 200, 15, f"{follower.id} healthy under the new leader")
    code, body = _health(follower)
    assert body["role"] in ("leader", "follower"), body
