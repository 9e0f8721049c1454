"""Backups: the backup file format, taking one, verifying one, seeding a node from one.

Owns the `.rcbak` file format, the scheduled per-node snapshots (with a
retention count) and the cluster id file. It reaches LMDB only through
node/keyspace (`Keyspace.copy_to`, `snapshot_info`, `rebase_copy`) and never
touches Raft, sockets or protocol parsing; node/frontends/grpc_admin streams
what `build` writes.

File format, version 1 (integers big-endian):

    b"RCBACKUP" | u32 format_version | u32 meta_len | meta (UTF-8 JSON)
    | u64 data_len | data (a compacted LMDB copy: one read transaction)
    | b"RCBKEND1" | sha256 of every byte before this trailer (32 bytes)

meta: format_version, cluster_id, applied_index, term, key_count,
keys_per_db, used_bytes, digest (sha256 over the data records, see
keyspace.snapshot_info), node_id, zone, created_ms, raftcache_version,
data_bytes, data_sha256.

A file is trusted only after `verify`: magic, version, sizes (a truncated
file is named as such), the trailer checksum, and (deep) the LMDB copy
itself, whose applied index, key counts and digest (data and items databases)
must match the meta, and whose itemized containers (hashes, sets, lists and
sorted sets past 128 elements) must each find all their elements in the items
database (keyspace.check_items): a copy that lost its items fails even though
a digest computed from it would be self-consistent.
Every check runs before anything on disk is changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from raftcache import __version__
from raftcache.node.storage import keyspace as _keyspace
from raftcache.node.fsync import fsync_dir, fsync_file
from raftcache.node.raft.journal import write_durably
from raftcache.node.config import BackupConfig
from raftcache.node.errors import RaftcacheError, Reason

log = logging.getLogger(__name__)

MAGIC = b"RCBACKUP"
TRAILER_MAGIC = b"RCBKEND1"
FORMAT_VERSION = 1
SUFFIX = ".rcbak"
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_TRAILER_BYTES = len(TRAILER_MAGIC) + 32
_MAX_META_BYTES = 1 << 20
CHUNK_BYTES = 1 << 20

#: Marker written in a node's data dir once it has been seeded from a backup.
RESTORED_MARKER = "restored-from.json"
CLUSTER_ID_FILE = "cluster.id"


class BackupError(RaftcacheError):
    """A backup file is missing, truncated, corrupted or of another format version."""

    reason = Reason.INVALID_ARGUMENT


@dataclass(frozen=True)
class BackupMeta:
    format_version: int
    cluster_id: str
    applied_index: int
    term: int
    key_count: int
    keys_per_db: dict
    used_bytes: int
    digest: str
    node_id: str
    zone: str
    created_ms: int
    raftcache_version: str
    data_bytes: int
    data_sha256: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- cluster id

def cluster_id(data_dir: str, secret: str) -> str:
    """This node's persistent cluster id, created at first start.

    Derived from the cluster secret so that every node of a cluster computes
    the same id without coordination, then kept in DATA_DIR/cluster.id so a
    later secret rotation does not change it.
    """
    path = os.path.join(data_dir, CLUSTER_ID_FILE)
    try:
        with open(path) as f:
            value = f.read().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = "rc-" + hashlib.sha256(b"raftcache-cluster-id\0" + secret.encode()).hexdigest()[:16]
    os.makedirs(data_dir, exist_ok=True)
    write_durably(path, (value + "\n").encode())
    return value


# ---------------------------------------------------------------- writing

def build(keyspace, path: str, *, cluster_id: str, term: int, node_id: str, zone: str) -> BackupMeta:
    """Write a backup of `keyspace` (a node's live Keyspace) to `path`, atomically.

    The LMDB copy comes from one read transaction, so it is consistent while
    writes continue. The file is written beside `path`, fsynced, renamed
    into place and its directory fsynced. Runs for a while on large data:
    call it from a worker thread.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".backup-", dir=directory)
    try:
        copy = os.path.join(work, "data.mdb")
        keyspace.copy_to(copy)
        info = _keyspace.snapshot_info(copy)
        data_sha = _sha256_file(copy)
        meta = BackupMeta(
            format_version=FORMAT_VERSION, cluster_id=cluster_id, applied_index=info.applied_index,
            term=term, key_count=info.key_count, keys_per_db={str(k): v for k, v in info.keys_per_db.items()},
            used_bytes=info.used_bytes, digest=info.digest, node_id=node_id, zone=zone,
            created_ms=time.time_ns() // 1_000_000, raftcache_version=__version__,
            data_bytes=os.path.getsize(copy), data_sha256=data_sha,
        )
        tmp = os.path.join(work, "backup" + SUFFIX)
        _write_file(tmp, meta, copy)
        os.replace(tmp, path)
        fsync_dir(directory)
        return meta
    finally:
        shutil.rmtree(work, ignore_errors=True)


def open_private(path: str):
    """Open `path` for writing, created 0600: a backup holds every value of the keyspace."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _write_file(out_path: str, meta: BackupMeta, data_path: str) -> None:
    meta_bytes = json.dumps(meta.to_json(), sort_keys=True).encode()
    h = hashlib.sha256()
    with open_private(out_path) as out:
        def put(b: bytes) -> None:
            h.update(b)
            out.write(b)

        put(MAGIC + _U32.pack(FORMAT_VERSION) + _U32.pack(len(meta_bytes)) + meta_bytes)
        put(_U64.pack(meta.data_bytes))
        with open(data_path, "rb") as data:
            while chunk := data.read(CHUNK_BYTES):
                put(chunk)
        out.write(TRAILER_MAGIC + h.digest())
        out.flush()
        os.fsync(out.fileno())


def file_sha256(path: str) -> str:
    """The checksum stored in a backup's trailer (of every byte before it)."""
    with open(path, "rb") as f:
        f.seek(-32, os.SEEK_END)
        return f.read(32).hex()


# ---------------------------------------------------------------- reading

def read_meta(path: str) -> tuple[BackupMeta, int]:
    """Parse the header; returns (meta, offset of the data). Raises BackupError."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise BackupError(f"cannot read backup {path}: {e.strerror}") from None
    with f:
        head = f.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or head[:len(MAGIC)] != MAGIC:
            if len(head) < len(MAGIC) and MAGIC.startswith(head):
                raise BackupError(f"{path}: truncated backup ({size} bytes)")
            raise BackupError(f"{path}: not a raftcache backup (bad magic)")
        version = _U32.unpack_from(head, len(MAGIC))[0]
        if version != FORMAT_VERSION:
            raise BackupError(f"{path}: backup format version {version} is not supported "
                              f"(this raftcache {__version__} reads version {FORMAT_VERSION})")
        meta_len = _U32.unpack_from(head, len(MAGIC) + 4)[0]
        if meta_len > _MAX_META_BYTES:
            raise BackupError(f"{path}: corrupted backup (header length {meta_len})")
        raw = f.read(meta_len)
        if len(raw) < meta_len:
            raise BackupError(f"{path}: truncated backup ({size} bytes, header incomplete)")
        try:
            fields = json.loads(raw)
            meta = BackupMeta(**{f.name: fields[f.name] for f in dataclasses.fields(BackupMeta)})
        except (ValueError, KeyError, TypeError) as e:
            raise BackupError(f"{path}: corrupted backup header ({e.__class__.__name__})") from None
        data_len_raw = f.read(8)
        if len(data_len_raw) < 8:
            raise BackupError(f"{path}: truncated backup ({size} bytes)")
        data_len = _U64.unpack(data_len_raw)[0]
        offset = len(MAGIC) + 8 + meta_len + 8
        expected = offset + data_len + _TRAILER_BYTES
        if size < expected:
            raise BackupError(f"{path}: truncated backup: {size} of {expected} bytes")
        if size > expected or data_len != meta.data_bytes:
            raise BackupError(f"{path}: corrupted backup (size {size}, expected {expected})")
        return meta, offset


def verify(path: str, deep: bool = True,
           progress: Callable[[int, int], None] | None = None,
           step: Callable[[str], None] | None = None) -> BackupMeta:
    """Check a backup file; returns its meta or raises BackupError with one clear line.

    Checks the header, sizes and trailer checksum; with `deep`, also opens
    the LMDB copy and checks its applied index, key counts and digest
    against the header. Changes nothing on disk (a deep check extracts the
    copy to a temporary directory, removed afterwards). `progress(done,
    total)` follows the checksum pass, `step(text)` names the later stages.
    """
    meta, offset = read_meta(path)
    size = os.path.getsize(path)
    h = hashlib.sha256()
    data_h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        body_end = size - _TRAILER_BYTES
        while done < body_end:
            chunk = f.read(min(CHUNK_BYTES, body_end - done))
            if not chunk:
                raise BackupError(f"{path}: truncated backup")
            h.update(chunk)
            lo, hi = max(offset - done, 0), min(len(chunk), offset + meta.data_bytes - done)
            if lo < hi:
                data_h.update(chunk[lo:hi])
            done += len(chunk)
            if progress:
                progress(done, body_end)
        trailer = f.read(_TRAILER_BYTES)
    if trailer[:len(TRAILER_MAGIC)] != TRAILER_MAGIC:
        raise BackupError(f"{path}: corrupted backup (bad trailer)")
    if trailer[len(TRAILER_MAGIC):] != h.digest():
        raise BackupError(f"{path}: corrupted backup: checksum mismatch")
    if data_h.hexdigest() != meta.data_sha256:
        raise BackupError(f"{path}: corrupted backup: data checksum mismatch")
    if deep:
        work = tempfile.mkdtemp(prefix=".rcbak-verify-")
        try:
            copy = os.path.join(work, "data.mdb")
            if step:
                step(f"checksums match; extracting the keyspace copy ({meta.data_bytes} bytes)")
            extract_data(path, copy, meta, offset)
            if step:
                step(f"checking the keyspace copy ({meta.key_count} keys)")
            _check_copy(path, copy, meta)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return meta


def _check_copy(path: str, copy: str, meta: BackupMeta) -> None:
    try:
        info = _keyspace.snapshot_info(copy)
    except ValueError as e:
        raise BackupError(f"{path}: corrupted backup: {e}") from None
    if info.applied_index != meta.applied_index:
        raise BackupError(f"{path}: corrupted backup: keyspace at index {info.applied_index}, "
                          f"header says {meta.applied_index}")
    if info.key_count != meta.key_count or info.digest != meta.digest:
        raise BackupError(f"{path}: corrupted backup: keyspace contents do not match the header")
    try:
        _keyspace.check_items(copy)
    except ValueError as e:
        raise BackupError(f"{path}: corrupted backup: items of large containers are missing: {e}") from None


def extract_data(path: str, out: str, meta: BackupMeta | None = None, offset: int | None = None) -> None:
    """Copy the LMDB image out of a backup file to `out` (fsynced)."""
    if meta is None or offset is None:
        meta, offset = read_meta(path)
    remaining = meta.data_bytes
    with open(path, "rb") as f, open_private(out) as o:
        f.seek(offset)
        while remaining:
            chunk = f.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise BackupError(f"{path}: truncated backup")
            o.write(chunk)
            remaining -= len(chunk)
        o.flush()
        os.fsync(o.fileno())


# ---------------------------------------------------------------- restoring

def restore_into(path: str, data_dir: str, keyspace_dir: str, raft_dir: str,
                 verified: BackupMeta | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 step: Callable[[str], None] | None = None) -> tuple[BackupMeta, bool]:
    """Seed a node's data dir from a backup, before the node's first start.

    Returns (meta, restored): restored is False when this data dir was
    already seeded from the same backup (a restarted container runs the
    same command line again). Refuses (BackupError) a bad file, and a data
    dir that already holds another keyspace or a Raft log, before changing
    anything. The keyspace is rebased (applied_index 0, see
    keyspace.rebase_copy) so that the new cluster's log is applied on top.
    `verified`: the meta `verify(path)` already returned (skips a second check).
    `progress` and `step` report how far it is (as verify's).
    """
    meta = verified or verify(path, deep=True, progress=progress, step=step)
    checksum = file_sha256(path)
    marker = os.path.join(data_dir, RESTORED_MARKER)
    try:
        with open(marker) as f:
            previous = json.load(f)
    except (FileNotFoundError, ValueError):
        previous = None
    if previous is not None:
        if previous.get("sha256") == checksum:
            return meta, False
        raise BackupError(f"{data_dir} was already restored from another backup ({previous.get('file')}); "
                          "use an empty data dir")
    live = os.path.join(keyspace_dir, "data.mdb")
    if os.path.exists(live) and os.path.getsize(live) > 0 or _has_files(raft_dir):
        raise BackupError(f"{data_dir} already holds a node's data; restore needs an empty data dir")
    os.makedirs(keyspace_dir, exist_ok=True)
    tmp = live + ".restore"
    if step:
        step(f"verified; writing the keyspace ({meta.data_bytes} bytes, {meta.key_count} keys)")
    extract_data(path, tmp, meta)
    if step:
        step("rebasing the keyspace on the new cluster's log")
    _keyspace.rebase_copy(tmp)
    fsync_file(tmp)
    for leftover in ("lock.mdb", "data.mdb.restore-lock"):
        try:
            os.remove(os.path.join(keyspace_dir, leftover))
        except FileNotFoundError:
            pass
    os.replace(tmp, live)
    fsync_dir(keyspace_dir)
    record = {"file": os.path.abspath(path), "sha256": checksum, **meta.to_json()}
    write_durably(marker, json.dumps(record, indent=2).encode())
    log.info("seeded %s from backup %s (index %d, %d keys)", data_dir, path, meta.applied_index, meta.key_count)
    return meta, True


def _has_files(directory: str) -> bool:
    try:
        return any(True for _ in os.scandir(directory))
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- schedule

_NAME = re.compile(r"^(?P<cluster>[^/]+)-(?P<node>[A-Za-z0-9_.-]+?)-(?P<time>\d{8}T\d{6}\d{3}Z)-i(?P<index>\d+)\.rcbak$")


def snapshot_name(cluster: str, node_id: str, now_s: float, index: int) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_s)) + f"{int(now_s * 1000) % 1000:03d}Z"
    return f"{cluster}-{node_id}-{stamp}-i{index}{SUFFIX}"


def prune(directory: str, node_id: str, keep: int) -> list[str]:
    """Delete this node's oldest automatic snapshots beyond `keep`; returns the deleted paths."""
    mine = []
    for entry in os.scandir(directory):
        m = _NAME.match(entry.name)
        if m and m["node"] == node_id:
            mine.append((m["time"], entry.path))
    mine.sort()
    doomed = [p for _, p in mine[:-keep]] if len(mine) > keep else []
    for p in doomed:
        os.remove(p)
    return doomed


def take_scheduled(keyspace, schedule: BackupConfig, *, cluster_id: str, term: int, node_id: str,
                   zone: str) -> str:
    """One automatic snapshot into schedule.dir (atomic), then retention. Returns its path."""
    os.makedirs(schedule.dir, exist_ok=True)
    tmp_name = os.path.join(schedule.dir, f".{node_id}-in-progress{SUFFIX}")
    meta = build(keyspace, tmp_name, cluster_id=cluster_id, term=term, node_id=node_id, zone=zone)
    final = os.path.join(schedule.dir, snapshot_name(cluster_id, node_id, time.time(), meta.applied_index))
    os.replace(tmp_name, final)
    fsync_dir(schedule.dir)
    prune(schedule.dir, node_id, schedule.keep)
    return final


# ---------------------------------------------------------------- files

def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()
