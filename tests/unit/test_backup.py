"""Backup files (node/ops/backup.py) on a temporary LMDB keyspace, no sockets.

The format round-trips (keys, values, types, absolute deadlines); a
truncated, corrupted or wrong-version file is refused with one clear line
before anything changes; a restored keyspace is rebased so that a new
cluster's log (starting again at index 1) is applied, not skipped; the
automatic snapshots keep the newest N.
"""

from __future__ import annotations

import json
import os
import struct

import pytest

from raftcache.node.ops import backup
from raftcache.node.ops.backup import BackupError
from raftcache.node.config import BackupConfig, KeyspaceConfig
from raftcache.node.storage.keyspace import Keyspace, Record, ValueType, snapshot_info


@pytest.fixture
def keyspace(tmp_path):
    ks = Keyspace(KeyspaceConfig(path=str(tmp_path / "src" / "keyspace")))
    with ks.writer(5) as txn:
        txn.put(0, b"plain", Record(ValueType.STRING, b"value"))
        txn.put(0, b"ttl", Record(ValueType.STRING, b"x", expires_at_ms=4_102_444_800_000))
        txn.put(3, b"hash", Record(ValueType.HASH, b"\x00encoded-hash"))
        txn.meta_put(b"dedup/c/client", b"\x00" * 16)
    with ks.writer(9) as txn:
        txn.put(0, b"later", Record(ValueType.LIST, b"list-bytes", index=9))
    yield ks
    ks.close()


def take(keyspace, path) -> backup.BackupMeta:
    return backup.build(keyspace, str(path), cluster_id="rc-test", term=3, node_id="n1", zone="a")


def records(ks: Keyspace) -> dict:
    out = {}
    with ks.reader() as r:
        for db in range(16):
            cursor = 0
            while True:
                cursor, keys = r.scan(db, cursor, 100, now_ms=0)
                for key in keys:
                    out[(db, key)] = r.get_raw(db, key)
                if cursor == 0:
                    break
    return out


def test_backup_round_trip_restores_identical_records(keyspace, tmp_path):
    path = tmp_path / "b.rcbak"
    meta = take(keyspace, path)
    assert (meta.applied_index, meta.term, meta.key_count, meta.cluster_id) == (9, 3, 4, "rc-test")
    assert backup.verify(str(path)) == meta
    assert path.stat().st_mode & 0o777 == 0o600, "a backup holds every value: owner only"

    node = tmp_path / "node"
    got, restored = backup.restore_into(str(path), str(node), str(node / "keyspace"), str(node / "raft"))
    assert restored and got == meta
    ks = Keyspace(KeyspaceConfig(path=str(node / "keyspace")))
    try:
        assert records(ks) == records(keyspace)          # keys, values, types, deadlines, CAS indexes
        with ks.reader() as r:
            assert r.meta_get(b"dedup/c/client") == b"\x00" * 16
        # docs/design.md, PySyncObj note 6: the new cluster's log starts again at 1, so the
        # restored keyspace must not claim to have applied index 9.
        assert ks.applied_index == 0
        with ks.writer(2) as txn:
            txn.put(0, b"new", Record(ValueType.STRING, b"applied"))
        assert records(ks)[(0, b"new")].value == b"applied"
    finally:
        ks.close()
    info = snapshot_info(str(node / "keyspace" / "data.mdb"))
    assert info.restored_from_index == 9


def test_restore_is_idempotent_for_the_same_file_and_refuses_another(keyspace, tmp_path):
    path = tmp_path / "b.rcbak"
    take(keyspace, path)
    node = tmp_path / "node"
    args = (str(node), str(node / "keyspace"), str(node / "raft"))
    assert backup.restore_into(str(path), *args)[1] is True
    assert backup.restore_into(str(path), *args)[1] is False     # a restarted container: no-op
    with keyspace.writer(10) as txn:
        txn.put(0, b"more", Record(ValueType.STRING, b"1"))
    other = tmp_path / "other.rcbak"
    take(keyspace, other)
    with pytest.raises(BackupError, match="already restored from another backup"):
        backup.restore_into(str(other), *args)


def test_restore_refuses_a_data_dir_with_data(keyspace, tmp_path):
    path = tmp_path / "b.rcbak"
    take(keyspace, path)
    node = tmp_path / "node"
    (node / "raft").mkdir(parents=True)
    (node / "raft" / "raft.journal").write_bytes(b"x")
    with pytest.raises(BackupError, match="already holds a node's data"):
        backup.restore_into(str(path), str(node), str(node / "keyspace"), str(node / "raft"))
    assert not (node / "keyspace").exists()


def _corrupt(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, message", [
    ("truncate", "truncated"),
    ("truncate-header", "truncated"),
    ("flip-data", "checksum mismatch"),
    ("flip-trailer", "checksum mismatch"),
    ("version", "format version 7 is not supported"),
    ("magic", "not a raftcache backup"),
    ("empty", "not a raftcache backup|truncated"),
])
def test_damaged_files_are_refused_before_anything_changes(keyspace, tmp_path, damage, message):
    path = tmp_path / "b.rcbak"
    take(keyspace, path)
    size = path.stat().st_size
    if damage == "truncate":
        os.truncate(path, size - 100)
    elif damage == "truncate-header":
        os.truncate(path, 20)
    elif damage == "flip-data":
        _corrupt(path, size // 2)
    elif damage == "flip-trailer":
        _corrupt(path, size - 1)
    elif damage == "version":
        data = bytearray(path.read_bytes())
        data[8:12] = struct.pack(">I", 7)
        path.write_bytes(bytes(data))
    elif damage == "magic":
        _corrupt(path, 0)
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(BackupError, match=message) as info:
        backup.verify(str(path))
    assert "\n" not in info.value.message
    node = tmp_path / "node"
    with pytest.raises(BackupError):
        backup.restore_into(str(path), str(node), str(node / "keyspace"), str(node / "raft"))
    assert not node.exists() or not any(node.rglob("*"))


def test_header_that_lies_about_the_keyspace_is_refused(keyspace, tmp_path):
    """A consistent checksum over a header whose key count is wrong still fails the deep check."""
    path = tmp_path / "b.rcbak"
    meta = take(keyspace, path)
    extracted = tmp_path / "data.mdb"
    backup.extract_data(str(path), str(extracted))
    lying = backup.BackupMeta(**{**meta.to_json(), "key_count": meta.key_count + 1})
    forged = tmp_path / "forged.rcbak"
    backup._write_file(str(forged), lying, str(extracted))
    with pytest.raises(BackupError, match="do not match the header"):
        backup.verify(str(forged))
    assert backup.verify(str(forged), deep=False).key_count == meta.key_count + 1


def test_scheduled_snapshots_are_atomic_and_keep_the_newest(keyspace, tmp_path, monkeypatch):
    schedule = BackupConfig(dir=str(tmp_path / "snaps"), interval_s=60, keep=2)
    clock = iter(range(1_700_000_000, 1_700_000_100, 10))
    monkeypatch.setattr(backup.time, "time", lambda: float(next(clock)))
    paths = [backup.take_scheduled(keyspace, schedule, cluster_id="rc-x", term=1, node_id="n1", zone="a")
             for _ in range(4)]
    left = sorted(os.listdir(schedule.dir))
    assert left == sorted(os.path.basename(p) for p in paths[-2:])
    assert all(n.endswith(".rcbak") and "-n1-" in n and not n.startswith(".") for n in left)
    for p in paths[-2:]:
        assert backup.verify(p).applied_index == 9


def test_cluster_id_is_shared_by_the_secret_and_persistent(tmp_path):
    a = backup.cluster_id(str(tmp_path / "a"), "secret")
    assert a == backup.cluster_id(str(tmp_path / "b"), "secret")
    assert a != backup.cluster_id(str(tmp_path / "c"), "other")
    assert backup.cluster_id(str(tmp_path / "a"), "rotated") == a


def test_meta_is_json_with_the_documented_fields(keyspace, tmp_path):
    path = tmp_path / "b.rcbak"
    take(keyspace, path)
    raw = path.read_bytes()
    meta_len = struct.unpack(">I", raw[12:16])[0]
    fields = json.loads(raw[16:16 + meta_len])
    for name in ("format_version", "cluster_id", "applied_index", "term", "key_count", "digest", "data_sha256"):
        assert name in fields


# ---------------------------------------------------------------- encryption (raftcache/backup_crypto.py)

def _sealed(tmp_path, plain: bytes, key: bytes) -> str:
    from raftcache import backup_crypto

    path = str(tmp_path / "sealed")
    with open(path, "wb") as f:
        sealer = backup_crypto.Sealer(key, f)
        for i in range(0, len(plain), 100_000):
            sealer.write(plain[i:i + 100_000])
        sealer.close()
    return path


def test_an_encrypted_backup_opens_only_whole_and_with_its_key(tmp_path):
    from raftcache import backup_crypto

    key = os.urandom(32)
    plain = os.urandom(3 * backup_crypto.CHUNK_BYTES + 12345)
    path = _sealed(tmp_path, plain, key)
    sealed = open(path, "rb").read()
    assert backup_crypto.is_encrypted(path) and plain[:4096] not in sealed
    assert b"".join(backup_crypto.open_chunks(path, key)) == plain
    with pytest.raises(backup_crypto.BackupKeyError, match="does not open with this key"):
        list(backup_crypto.open_chunks(path, os.urandom(32)))
    for broken in (sealed[:-(backup_crypto.CHUNK_BYTES // 2)],                 # cut
                   sealed[:len(sealed) - 12345 - 16 - 4],                       # the last chunk dropped
                   sealed[:100] + bytes([sealed[100] ^ 1]) + sealed[101:]):     # changed
        with open(path, "wb") as f:
            f.write(broken)
        with pytest.raises(backup_crypto.BackupKeyError):
            list(backup_crypto.open_chunks(path, key))


def test_backup_keys_raw_or_hex(tmp_path):
    from raftcache import backup_crypto

    raw, text, bad = tmp_path / "raw", tmp_path / "hex", tmp_path / "bad"
    raw.write_bytes(b"k" * 32)
    text.write_text("ab" * 32 + "\n")
    bad.write_text("short")
    assert backup_crypto.load_key(str(raw)) == b"k" * 32
    assert backup_crypto.load_key(str(text)) == b"\xab" * 32
    with pytest.raises(backup_crypto.BackupKeyError):
        backup_crypto.load_key(str(bad))


def test_plaintext_decrypts_into_a_private_scratch_dir_and_removes_it(tmp_path):
    import stat

    from raftcache import backup_crypto

    key_file = tmp_path / "key"
    key_file.write_bytes(b"x" * 32)
    path = _sealed(tmp_path, b"backup bytes", b"x" * 32)
    with backup_crypto.plaintext(path, str(key_file), str(tmp_path)) as plain:
        assert open(plain, "rb").read() == b"backup bytes"
        assert stat.S_IMODE(os.stat(os.path.dirname(plain)).st_mode) == 0o700
    assert not os.path.exists(plain)
    with pytest.raises(backup_crypto.BackupKeyError, match="is encrypted"):
        with backup_crypto.plaintext(path, None):
            pass
