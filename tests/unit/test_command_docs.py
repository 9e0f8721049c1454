"""COMMAND INFO/DOCS data (node/frontends/redis_commands.json, scripts/gen_redis_commands.py):
every command of the RESP table has Redis's entry, and the table agrees with it on arity
and key positions; a container lists only the subcommands implemented."""

from __future__ import annotations

from raftcache.node.frontends import resp_command_docs, resp_commands
from raftcache.node.frontends.resp_admin import REDIS_VERSION, SUBCOMMANDS
from raftcache.node.frontends.resp_table import TABLE


def test_every_command_has_redis_entry_with_the_same_arity_and_keys():
    for key, spec in TABLE.items():
        name = key.decode()
        info = resp_command_docs.info(name, SUBCOMMANDS.get(name, ()))
        assert info is not None, f"{name}: run scripts/gen_redis_commands.py"
        assert info[1] == spec.arity or resp_commands.EXTENDED_ARITY.get(name) == spec.arity, name
        if name not in SUBCOMMANDS:   # a container's keys are its subcommands' (OBJECT ENCODING key)
            assert tuple(info[3:6]) == (spec.first_key, spec.last_key, spec.step), name
        assert resp_command_docs.docs(name, SUBCOMMANDS.get(name, ())) is not None, name


def test_containers_list_only_implemented_subcommands():
    client = resp_command_docs.info("client", SUBCOMMANDS["client"])
    names = {entry[0].decode() for entry in client[9]}
    assert "client|kill" in names and "client|pause" in names
    memory = {entry[0].decode() for entry in resp_command_docs.info("memory", SUBCOMMANDS["memory"])[9]}
    assert "memory|usage" in memory and "memory|stats" in memory and "memory|malloc-stats" not in memory
    assert resp_command_docs.info("memory|malloc-stats", SUBCOMMANDS["memory"]) is None
    assert resp_command_docs.info("client|kill", SUBCOMMANDS["client"])[1] == -3
    for container, subcommands in SUBCOMMANDS.items():
        for sub, arity in subcommands.items():
            info = resp_command_docs.info(f"{container}|{sub}", subcommands)
            if info is not None:   # CLIENT CONSISTENCY is raftcache's own
                assert info[1] == arity, (container, sub)


def test_the_version_reported_is_the_one_the_data_came_from():
    assert REDIS_VERSION == resp_command_docs.redis_version() and REDIS_VERSION.startswith("7.4")
