"""Encrypted backups: a `.rcbak` file sealed with AES-256-GCM under a key file (`cryptography`).

A leaf shared by the SDK (client/admin.py seals a backup as it arrives), the
offline verifier (raftcache/offline.py) and the node (a restore opens one):
it imports nothing of raftcache.

`ctl backup --encrypt-key FILE` seals the backup as it streams in (no
plaintext copy is written); `ctl verify --key FILE`, `raftcache node
--restore FILE --backup-key FILE` and `raftcache up --restore … --backup-key`
open it. The key file holds 32 random bytes, raw or as 64 hex characters
(e.g. `python -c "import secrets; print(secrets.token_hex(32))" > backup.key`);
keep it apart from the backups, 0600.

Format (integers big-endian), the STREAM construction over the plaintext
file cut in CHUNK_BYTES pieces:

    b"RCBAKENC" | u32 version (1) | 8-byte random nonce prefix
    | per chunk: u32 ciphertext length | AES-GCM(key, prefix | u32 index, chunk, aad)

where aad = the 20-byte header | u32 index | u8 1 on the last chunk else 0.
Each chunk is authenticated with its position and whether it is the last,
so a file that was truncated, reordered or spliced does not open.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


MAGIC = b"RCBAKENC"
VERSION = 1
CHUNK_BYTES = 1 << 20
_HEADER = struct.Struct(">8sI8s")
_U32 = struct.Struct(">I")
_TAG_BYTES = 16


class BackupKeyError(ValueError):
    """The key file is unusable, or the backup does not open with it (the text says which)."""


def load_key(path: str) -> bytes:
    """The 32-byte key in `path` (raw, or 64 hex characters)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BackupKeyError(f"cannot read the backup key {path}: {e.strerror}") from None
    if len(data) == 32:
        return data
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise BackupKeyError(f"{path} must hold a 32-byte key (raw, or 64 hex characters)")
    return key


def is_encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


class Sealer:
    """Encrypts a plaintext stream chunk by chunk into `out` (a binary file)."""

    def __init__(self, key: bytes, out):
        self._aead = AESGCM(key)
        self._prefix = os.urandom(8)
        self._header = _HEADER.pack(MAGIC, VERSION, self._prefix)
        self._out = out
        self._index = 0
        self._pending = b""
        out.write(self._header)

    def write(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) > CHUNK_BYTES:   # keep one chunk back: the last is sealed as last
            self._seal(self._pending[:CHUNK_BYTES], last=False)
            self._pending = self._pending[CHUNK_BYTES:]

    def close(self) -> None:
        self._seal(self._pending, last=True)
        self._pending = b""

    def _seal(self, chunk: bytes, last: bool) -> None:
        nonce = self._prefix + _U32.pack(self._index)
        sealed = self._aead.encrypt(nonce, chunk, self._header + _U32.pack(self._index) + bytes([last]))
        self._out.write(_U32.pack(len(sealed)) + sealed)
        self._index += 1


def open_chunks(path: str, key: bytes) -> Iterator[bytes]:
    """The plaintext of an encrypted backup, chunk by chunk; BackupKeyError if it does not open."""
    aead = AESGCM(key)
    with open(path, "rb") as f:
        size_of_file = os.fstat(f.fileno()).st_size
        header = f.read(_HEADER.size)
        if len(header) != _HEADER.size or header[:8] != MAGIC:
            raise BackupKeyError(f"{path} is not an encrypted backup")
        _, version, prefix = _HEADER.unpack(header)
        if version != VERSION:
            raise BackupKeyError(f"{path}: encrypted backup format {version} is not supported")
        index = 0
        while True:
            size = f.read(_U32.size)
            if len(size) != _U32.size:
                raise BackupKeyError(f"{path} is truncated (its last piece is missing)")
            (length,) = _U32.unpack(size)
            sealed = f.read(length)
            if len(sealed) != length or length < _TAG_BYTES or length > CHUNK_BYTES + _TAG_BYTES:
                raise BackupKeyError(f"{path} is truncated or corrupted")
            last = f.tell() == size_of_file
            try:
                chunk = aead.decrypt(prefix + _U32.pack(index), sealed, header + _U32.pack(index) + bytes([last]))
            except InvalidTag:
                raise BackupKeyError(f"{path} does not open with this key (wrong key, or the file was "
                                     f"changed or cut)") from None
            yield chunk
            if last:
                return
            index += 1


def decrypt_to(path: str, out_path: str, key: bytes) -> None:
    with _private(out_path) as out:
        for chunk in open_chunks(path, key):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _private(path: str):
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


@contextlib.contextmanager
def plaintext(path: str, key_path: str | None, scratch_dir: str | None = None) -> Iterator[str]:
    """`path` itself when it is not encrypted; else a decrypted copy in a private scratch
    directory (under `scratch_dir`), removed on exit. An encrypted file needs `key_path`."""
    if not is_encrypted(path):
        yield path
        return
    if not key_path:
        raise BackupKeyError(f"{path} is encrypted: give its key file (--backup-key / --key)")
    key = load_key(key_path)
    if scratch_dir:
        os.makedirs(scratch_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".decrypted-backup-", dir=scratch_dir)   # 0700
    try:
        out = os.path.join(work, os.path.basename(path))
        decrypt_to(path, out, key)
        yield out
    finally:
        shutil.rmtree(work, ignore_errors=True)

