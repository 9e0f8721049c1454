"""A node's ACL file (`--aclfile`, Redis's format): ACL LOAD reads it, ACL SAVE writes it.

The users themselves are replicated (node/commands/acl_store.py); the file
seeds them once — the first leader started with `--aclfile` proposes ACL
LOAD while the cluster has no users yet — and afterwards moves only when an
operator runs ACL LOAD (the file replaces every user, cluster-wide) or ACL
SAVE (this node's file gets the cluster's users). SAVE writes password
digests only (`#…`), to a 0600 file, atomically.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile

from raftcache.node.commands import acl
from raftcache.node.errors import RaftcacheError
from raftcache.node.fsync import fsync_dir
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)


class AclFileError(ValueError):
    """The file cannot be read or holds a rule Redis would refuse (the text says where)."""


def load_command(path: str, known) -> pb.Command:
    """An AclLoad command with the file's users (passwords hashed); AclFileError if it is bad."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise AclFileError(f"cannot read the ACL file {path}: {e.strerror}") from None
    try:
        users = acl.parse_file(text, known)
    except acl.AclError as e:
        raise AclFileError(f"{path}: {e}") from None
    command = pb.Command()
    command.acl_load.SetInParent()
    for name, rules in users:
        command.acl_load.users.add(name=name, rules=rules)
    return command


def save(path: str, users: dict[str, acl.User]) -> None:
    """Write every user to `path` in Redis's format, atomically, 0600."""
    text = b"".join(users[name].describe() + b"\n" for name in sorted(users))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".acl-", dir=directory)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(directory)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


async def seed(service, path: str, known, interval_s: float = 0.5) -> None:
    """On the leader, while the cluster has no ACL users yet: ACL LOAD from `path` (once)."""
    while not service.replicated_users():
        await asyncio.sleep(interval_s)
        if not service.is_leader or service.replicated_users():
            continue
        try:
            command = load_command(path, known)
        except AclFileError as e:
            log.error("not loading ACL users: %s", e)
            return
        try:
            result, _ = await service.execute(command)
        except RaftcacheError as e:
            result = e
        if isinstance(result, RaftcacheError):
            log.warning("loading the ACL file %s failed (%s); trying again", path, result.message)
        else:
            log.info("loaded the ACL users of %s", path)
