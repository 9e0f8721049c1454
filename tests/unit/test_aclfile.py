"""The node's ACL file (node/ops/aclfile.py): Redis's format in, digests out, seeding once."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from raftcache.node.commands import acl
from raftcache.node.frontends import acl_catalog
from raftcache.node.ops import aclfile


def test_load_hashes_passwords_and_refuses_a_bad_file(tmp_path):
    path = tmp_path / "users.acl"
    path.write_text("user alice on >pw ~* +@all\nuser default off\n")
    command = aclfile.load_command(str(path), acl_catalog.known)
    users = {u.name: list(u.rules) for u in command.acl_load.users}
    assert users == {"alice": [b"on", b"#" + acl.sha256_hex(b"pw").encode(), b"~*", b"+@all"],
                     "default": [b"off"]}
    path.write_text("user alice on +nosuchcommand\n")
    with pytest.raises(aclfile.AclFileError, match="line 1: .*Unknown command"):
        aclfile.load_command(str(path), acl_catalog.known)
    with pytest.raises(aclfile.AclFileError, match="cannot read"):
        aclfile.load_command(str(tmp_path / "missing"), acl_catalog.known)


def test_save_writes_digests_only_and_0600(tmp_path):
    path = str(tmp_path / "users.acl")
    users = {"alice": acl.apply_rules(acl.new_user("alice"), [b"on", b">secret-pw", b"+get"]),
             "default": acl.default_user()}
    aclfile.save(path, users)
    text = open(path, "rb").read()
    assert b"secret-pw" not in text and acl.sha256_hex(b"secret-pw").encode() in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    reloaded = {u.name: u for u in aclfile.load_command(path, acl_catalog.known).acl_load.users}
    assert set(reloaded) == {"alice", "default"}


def test_seed_loads_once_on_the_leader_while_there_are_no_users(tmp_path):
    path = tmp_path / "users.acl"
    path.write_text("user alice on nopass +@all\n")

    class Service:
        is_leader = False
        users: dict = {}
        executed: list = []

        def replicated_users(self):
            return self.users

        async def execute(self, command):
            self.executed.append(command)
            self.users = {"alice": object()}
            return "OK", 1

    service = Service()

    async def go():
        task = asyncio.ensure_future(aclfile.seed(service, str(path), acl_catalog.known, interval_s=0.01))
        await asyncio.sleep(0.05)
        assert service.executed == []          # not the leader: nothing proposed
        service.is_leader = True
        await asyncio.wait_for(task, 2)
        assert len(service.executed) == 1 and service.executed[0].acl_load.users[0].name == "alice"

    asyncio.run(go())
