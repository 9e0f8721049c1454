"""fsync of a path: what makes a file's contents, or a directory's renames and creations, survive
a crash (the Raft journal, term and vote files, keyspace copies, backups, the ACL file, the
membership record). Standard library only; every layer may import it."""

from __future__ import annotations

import os


def fsync_file(path: str) -> None:
    """fsync the file at `path` (its data and metadata)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """fsync a directory so that renames and creations inside it survive a crash."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
