"""The fuzzer's invariant checks are not vacuous: they pass on a healthy cluster and catch a
replica whose keyspace differs, a changed canary and a dead node (scripts/fuzz/checks.py)."""

from __future__ import annotations

import os
import signal

import lmdb
import pytest

from raftcache.proto import commands_pb2 as pb
from scripts.fuzz import checks
from scripts.fuzz.strategies import CANARY_DB


def _flip_one_data_byte(data_dir: str) -> None:
    """Change the last byte of one data record of a stopped node's keyspace, straight in LMDB."""
    env = lmdb.open(os.path.join(data_dir, "keyspace"), max_dbs=8)
    try:
        with env.begin(write=True) as txn:
            data = env.open_db(b"data", txn=txn, create=False)
            with txn.cursor(db=data) as cur:
                assert cur.first(), "the keyspace has no data record"
                key, value = cur.item()
                txn.put(key, value[:-1] + bytes([value[-1] ^ 0xFF]), db=data)
    finally:
        env.close()


def test_checks_pass_on_a_healthy_cluster_and_catch_divergence_changed_canaries_and_dead_nodes(make_cluster):
    cluster = make_cluster(3)
    canaries = checks.Canaries(CANARY_DB)
    canaries.write(cluster)
    checks.check_cluster(cluster, canaries)
    index, digest = checks.wait_converged(cluster)
    assert index > 0 and len(digest) == 64

    victim = cluster.followers()[0]
    cluster.kill(victim, signal.SIGTERM)
    _flip_one_data_byte(victim.data_dir)
    cluster.restart(victim)
    with pytest.raises(checks.InvariantBroken, match="replicas disagree"):
        checks.wait_converged(cluster, timeout_s=5)
    cluster.kill(victim, signal.SIGTERM)
    _flip_one_data_byte(victim.data_dir)  # flipped back: the replicas agree again
    cluster.restart(victim)
    checks.check_cluster(cluster, canaries)

    cluster.execute(cluster.leader(), pb.Command(db=CANARY_DB, append=pb.Append(key=b"canary:str", value=b"!")))
    with pytest.raises(checks.InvariantBroken, match="canaries changed"):
        checks.check_cluster(cluster, canaries)
    cluster.kill(cluster.followers()[0])
    with pytest.raises(checks.InvariantBroken, match="exited"):
        checks.ping_all(cluster)
