"""Backups proven against the SOURCE cluster, on real node processes.

Every value type (string, hash, set, list, sorted set) at both encodings
(inline, and itemized past 128 elements), with and without deadlines, in all
16 databases, is written through redis-py; `ctl backup` runs on a follower;
a new cluster is seeded with `--restore`. The restored cluster's full digest
(data and items databases) must equal the source's own digest at the
backup's index: writes stop before the backup (a marker write's index bounds
every acknowledged write), so each source node's keyspace, read directly once
it is stopped, is the source at that index. Comparing with the backup's own
header digest would prove nothing: a backup that lost the items database
computes its digest from what it kept.
"""

from __future__ import annotations

import os


from raftcache.node.ops import backup
from raftcache.node.storage.keyspace import check_items, snapshot_info
from raftcache.proto import commands_pb2 as pb
from tests.cluster import Cluster
from tests.integration.redis_helpers import client

BIG = 200       # > 128 elements: itemized
SMALL = 4       # inline
DEADLINE_S = 4_102_444_800   # 2100-01-01: far enough not to expire during the test


def _fill(leader) -> None:
    for db in range(16):
        r = client(leader, 2, db=db)
        for size, tag in ((SMALL, "small"), (BIG, "big")):
            r.hset(f"h-{tag}", mapping={f"f{i}": f"v{i}" for i in range(size)})
            r.sadd(f"s-{tag}", *(f"m{i}" for i in range(size)))
            r.rpush(f"l-{tag}", *(f"e{i}" for i in range(size)))
            r.zadd(f"z-{tag}", {f"p{i}": i / 7 for i in range(size)})
            for kind in "hslz":
                assert r.expireat(f"{kind}-{tag}", DEADLINE_S + db)
            r.hset(f"h-{tag}-forever", mapping={f"f{i}": "x" for i in range(size)})
        r.set("str", "x" * (db + 1))
        r.set("str-ttl", "t", ex=3600)
        r.close()


def _digest_of_stopped(cluster: Cluster) -> set[str]:
    """Stop every node of `cluster`; the digests of their keyspaces, read directly from disk."""
    digests = set()
    for node in cluster.nodes:
        cluster.stop(node)
        path = os.path.join(node.data_dir, "keyspace", "data.mdb")
        check_items(path)
        digests.add(snapshot_info(path).digest)
    return digests


def test_restore_equals_the_source_at_the_backup_index(make_cluster, tmp_path):
    src = make_cluster(3)
    leader = src.leader()
    _fill(leader)
    marker = src.execute(leader, pb.Command(set=pb.Set(key=b"marker", value=b"last")))
    src.wait_applied(marker.index)                  # every acknowledged write, on every node

    path = str(tmp_path / "src.rcbak")
    src.ctl("backup", "--out", path, endpoint=src.followers()[0])
    meta = backup.verify(path)
    assert meta.applied_index >= marker.index
    assert sorted(map(int, meta.keys_per_db)) == list(range(16))
    source_digests = _digest_of_stopped(src)        # no write after the marker: the source at the backup index
    assert len(source_digests) == 1, "the source's replicas disagree"

    dst = make_cluster(3, extra_args=["--restore", path])
    r = client(dst.leader(), 2, db=15)
    assert r.hlen("h-big") == BIG and r.scard("s-big") == BIG and r.llen("l-big") == BIG
    assert r.zcard("z-big") == BIG and r.expiretime("z-big") == DEADLINE_S + 15
    assert r.object("encoding", "h-big") == b"hashtable" and r.object("encoding", "h-small") == b"listpack"
    r.close()
    assert _digest_of_stopped(dst) == source_digests
