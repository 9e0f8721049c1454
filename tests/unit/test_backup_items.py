"""Backups of large containers (node/ops/backup.py, keyspace.check_items), no sockets.

Every value type at both encodings (inline, and itemized past INLINE_MAX
elements), with deadlines, in all 16 databases, goes through build, verify and
restore_into, and the restored keyspace's full digest (data and items
databases) equals the SOURCE's, read from a copy of the source taken apart
from the backup. A backup whose LMDB copy lost its items database, wholly or
in part, is refused by `verify` (and `raftcache ctl verify`) even though the digest in its header was
computed from that very copy (so it is self-consistent).
"""

from __future__ import annotations

import os
import subprocess
import sys

import lmdb
import pytest

from raftcache.node.ops import backup
from raftcache.node.ops.backup import BackupError
from raftcache.node.storage.itemview import INLINE_MAX
from raftcache.node.storage.keyspace import check_items, snapshot_info
from raftcache.proto import commands_pb2 as pb

from tests.unit.test_statemachine import NOW, Node

BIG = INLINE_MAX + 72          # > 128 elements: itemized
SMALL = 5                      # inline
DEADLINE = NOW + 3_600_000


def _fill(node: Node) -> None:
    for db in range(16):
        for size, tag in ((SMALL, b"small"), (BIG, b"big")):
            node.run(db=db, hset=pb.HSet(key=b"h-" + tag, pairs=[
                pb.KeyValue(key=b"f%d" % i, value=b"v%d" % i) for i in range(size)]))
            node.run(db=db, sadd=pb.SAdd(key=b"s-" + tag, members=[b"m%d" % i for i in range(size)]))
            node.run(db=db, push=pb.Push(key=b"l-" + tag, values=[b"e%d" % i for i in range(size)]))
            node.run(db=db, zadd=pb.ZAdd(key=b"z-" + tag, members=[
                pb.ScoreMember(score=i / 3, member=b"p%d" % i) for i in range(size)]))
            for key in (b"h-", b"s-", b"l-", b"z-"):
                node.run(db=db, expire=pb.Expire(key=key + tag,
                                                 expiry=pb.Expiry(expire_at_ms=DEADLINE + db)))
        node.run(db=db, set=pb.Set(key=b"str", value=b"x" * (db + 1)))
        node.run(db=db, set=pb.Set(key=b"str-ttl", value=b"t", expiry=pb.Expiry(ttl_ms=60_000)))


@pytest.fixture
def source(tmp_path):
    node = Node(str(tmp_path / "src" / "keyspace"))
    _fill(node)
    yield node
    node.ks.close()


def _source_digest(node: Node, tmp_path) -> tuple[int, str]:
    """The source keyspace's own (applied index, full digest), from a copy made apart from the backup."""
    copy = str(tmp_path / "source-copy.mdb")
    node.ks.copy_to(copy)
    info = snapshot_info(copy)
    assert check_items(copy) == 16 * (3 * BIG + 2 * BIG)   # itemized: 1 record per element, 2 in a zset
    return info.applied_index, info.digest


def test_round_trip_of_every_type_at_both_encodings_matches_the_source(source, tmp_path):
    index, digest = _source_digest(source, tmp_path)
    path = str(tmp_path / "full.rcbak")
    meta = backup.build(source.ks, path, cluster_id="rc-test", term=2, node_id="n1", zone="a")
    assert meta.applied_index == index and meta.digest == digest
    assert sorted(map(int, meta.keys_per_db)) == list(range(16))
    assert backup.verify(path) == meta

    node_dir = tmp_path / "restored"
    backup.restore_into(path, str(node_dir), str(node_dir / "keyspace"), str(node_dir / "raft"))
    restored = snapshot_info(str(node_dir / "keyspace" / "data.mdb"))
    assert restored.digest == digest and restored.restored_from_index == index
    node = Node(str(node_dir / "keyspace"))
    try:
        for db in (0, 15):
            hgetall = node.read(db=db, hgetall=pb.HGetAll(key=b"h-big"))
            assert len(hgetall) == 2 * BIG and node.read(db=db, scard=pb.SCard(key=b"s-big")) == BIG
            assert node.read(db=db, llen=pb.LLen(key=b"l-big")) == BIG
            assert node.read(db=db, zcard=pb.ZCard(key=b"z-big")) == BIG
            assert node.read(db=db, ttl=pb.Ttl(key=b"z-big", millis=True, absolute=True)) == DEADLINE + db
    finally:
        node.ks.close()


def _rewrite_without_items(path: str, out: str, tmp_path, keep_some: bool) -> None:
    """A backup file made the way a broken `build` would: copy, lose items, then meta from that copy."""
    meta, offset = backup.read_meta(path)
    copy = str(tmp_path / "broken.mdb")
    backup.extract_data(path, copy, meta, offset)
    env = lmdb.open(copy, subdir=False, lock=False, max_dbs=8, map_size=os.path.getsize(copy) * 4)
    with env.begin(write=True) as txn:
        items = env.open_db(b"items", txn=txn)
        if keep_some:
            with txn.cursor(db=items) as cur:
                cur.first()
                cur.delete()                               # one element of one container
        else:
            txn.drop(items, delete=True)
    env.close()
    info = snapshot_info(copy)
    broken = backup.BackupMeta(**{**meta.to_json(), "digest": info.digest,
                                  "data_bytes": os.path.getsize(copy), "data_sha256": backup._sha256_file(copy)})
    backup._write_file(out, broken, copy)


@pytest.mark.parametrize("keep_some", [False, True], ids=["items-db-dropped", "one-item-missing"])
def test_verify_refuses_a_backup_that_lost_items(source, tmp_path, keep_some):
    path = str(tmp_path / "full.rcbak")
    backup.build(source.ks, path, cluster_id="rc-test", term=2, node_id="n1", zone="a")
    bad = str(tmp_path / "bad.rcbak")
    _rewrite_without_items(path, bad, tmp_path, keep_some)
    with pytest.raises(BackupError, match="items of large containers are missing"):
        backup.verify(bad)
    with pytest.raises(BackupError):
        backup.restore_into(bad, str(tmp_path / "n"), str(tmp_path / "n" / "keyspace"), str(tmp_path / "n" / "raft"))
    assert not (tmp_path / "n" / "keyspace" / "data.mdb").exists()
    cli = subprocess.run([sys.executable, "-m", "raftcache", "ctl", "verify", bad], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, RAFTCACHE_CLUSTER_SECRET="s"))
    assert cli.returncode == 1 and "items of large containers are missing" in cli.stderr, cli.stderr
    assert cli.stdout == "" and cli.stderr.count("\n") == 1
