"""Configuration (node/config/): the one parameter table, parsing peers and sizes,
validation, flag/env/TOML precedence, `raftcache node --help` and CONFIG's defaults."""

import argparse
import dataclasses
import hashlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

from raftcache import cli
from raftcache.node.config import (BackupConfig, KeyspaceConfig, NodeConfig, Peer, ReplicationConfig, TlsConfig,
                                   settings, sources)
from raftcache.node.config.params import BY_CONFIG, BY_FIELD, BY_KEY, KINDS, PARAMS
from raftcache.node.config.values import parse_peers, parse_size
from raftcache.node.errors import ConfigError
from raftcache.peers import PeerSpecError


# ---------------------------------------------------------------- the table

def _declared(column) -> list[str]:
    return [column(p) for p in PARAMS if column(p)]


@pytest.mark.parametrize("column", ["key", "field", "config", "flag", "env"])
def test_every_parameter_is_declared_once(column):
    names = _declared(lambda p: getattr(p, column))
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_every_row_is_a_field_a_source_or_a_config_parameter():
    assert [p for p in PARAMS if not (p.field or p.key or p.config)] == []
    assert [p.config for p in PARAMS if bool(p.config) != bool(p.kind)] == []
    assert {p.kind for p in PARAMS if p.kind} <= set(KINDS)
    assert [p.key for p in PARAMS if p.key and not p.help] == []


def _fields(cls, prefix="") -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory):
            out |= _fields(f.default_factory, f"{f.name}.")
        else:
            out.add(prefix + f.name)
    return out


def test_nodeconfig_has_exactly_the_fields_of_the_table():
    assert _fields(NodeConfig) == set(BY_FIELD)
    config = NodeConfig()
    assert {f: config.value(f) for f in BY_FIELD} == {f: p.default for f, p in BY_FIELD.items()}


def test_node_help_lists_every_flag_of_the_table(capsys):
    with pytest.raises(SystemExit):
        cli.main(["node", "--help"])
    text = capsys.readouterr().out
    listed = set(re.findall(r"^\s+(--[a-z-]+)", text, re.M))   # the options section: one flag a line
    assert listed - {"--help"} == set(_declared(lambda p: p.flag))


def test_the_config_package_imports_no_grpc_lmdb_or_pysyncobj():
    """The state machine validates CONFIG SET with node/config/settings.py at apply."""
    code = ("import sys; import raftcache.node.config.settings, raftcache.node.config.sources; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'lmdb', 'pysyncobj'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- values and validation

def test_peer_spec_round_trip():
    peer = Peer.parse("n2@b=10.0.0.2:7010")
    assert (peer.id, peer.zone, peer.host, peer.base_port) == ("n2", "b", "10.0.0.2", 7010)
    assert peer.address("redis") == "10.0.0.2:7011"
    assert peer.address("raft") == "10.0.0.2:7013"
    assert Peer.parse(peer.spec()) == peer


@pytest.mark.parametrize("spec", ["n2", "n2@b", "n2@b=host", "n2@b=host:port", "@b=h:1", "n2@=h:1"])
def test_bad_peer_specs_are_refused(spec):
    # The spelling is shared with the SDK (raftcache/peers.py), which raises its own error;
    # the node's configuration loader turns it into a ConfigError.
    with pytest.raises(PeerSpecError, match="expected ID@ZONE=HOST:BASEPORT"):
        Peer.parse(spec)
    with pytest.raises(ConfigError, match="expected ID@ZONE=HOST:BASEPORT"):
        parse_peers(f"n1@a=127.0.0.1:7000,{spec}")


@pytest.mark.parametrize("text,expected", [("1048576", 1 << 20), ("512mb", 512 << 20), ("2GB", 2 << 30), ("64k", 64 << 10)])
def test_sizes(text, expected):
    assert parse_size(text) == expected


def test_bad_size():
    with pytest.raises(ConfigError, match="bad size"):
        parse_size("lots")


def _config(**changes):
    base = NodeConfig(replication=ReplicationConfig(cluster_secret="s"))
    return base.replace(**changes)


def test_defaults_validate_with_a_secret():
    _config().validate()


def test_secret_is_required():
    with pytest.raises(ConfigError, match="cluster secret"):
        NodeConfig().validate()


def test_node_must_be_a_peer():
    config = _config(peers=(Peer("n2", "b", "127.0.0.1", 7010),))
    with pytest.raises(ConfigError, match="must be one of the peers"):
        config.validate()


def test_duplicate_peer_ids():
    me = Peer("n1", "a", "127.0.0.1", 7000)
    with pytest.raises(ConfigError, match="unique"):
        _config(peers=(me, me)).validate()


@pytest.mark.parametrize(
    "part,message",
    [
        (KeyspaceConfig(databases=0), "databases"),
        (KeyspaceConfig(max_key_bytes=100_000), "max_key_bytes"),
        (KeyspaceConfig(maxmemory_bytes=10), "maxmemory"),
        (ReplicationConfig(cluster_secret="s", appendfsync="sometimes"), "appendfsync"),
        (ReplicationConfig(cluster_secret="s", election_timeout_min_s=2, election_timeout_max_s=1), "election"),
    (TlsConfig(cert_file="/n.crt", key_file="/n.key", auth_clients="no"), "--tls-replication yes .* needs"),
    (TlsConfig(plaintext_port_offset=5), "--tls-plaintext-port-offset needs TLS"),
    ],
)
def test_invalid_parts(part, message):
    with pytest.raises(ConfigError, match=message):
        part.validate()


@pytest.mark.parametrize("changes,message", [
    ({"role": "observer"}, "role must be one of voter, replica"),
    ({"backup": BackupConfig(dir="/b", interval_s=0.5)}, "backup interval"),
    ({"backup": BackupConfig(keep=0)}, "retention"),
])
def test_operations_are_validated_with_the_node(changes, message):
    with pytest.raises(ConfigError, match=message):
        _config(**changes).validate()


# ---------------------------------------------------------------- flags, environment, TOML

def _args(**kw):
    return argparse.Namespace(**{**{k: None for k in BY_KEY}, **kw})


#: A value for each key as a flag, the environment or TOML gives it, and the field's value.
SAMPLES = {
    "id": ("n2", "n2"), "zone": ("b", "b"), "host": ("127.0.0.2", "127.0.0.2"), "base_port": ("7010", 7010),
    "advertise": ("localhost:7010", "localhost:7010"),
    "peers": ("n2@b=127.0.0.2:7010", (Peer("n2", "b", "127.0.0.2", 7010),)),
    "cluster_secret": ("t", "t"), "appendfsync": ("always", "always"), "maxmemory": ("64mb", 64 << 20),
    "databases": ("4", 4), "default_read": ("lease", "lease"), "redis_password": ("pw", "pw"),
    "role": ("replica", "replica"), "restore": ("x.rcbak", os.path.abspath("x.rcbak")), "join": ("yes", True),
    "backup_dir": ("snaps", os.path.abspath("snaps")), "backup_interval": ("60", 60.0), "backup_keep": ("3", 3),
    "max_log_version": ("1", 1), "log_level": ("DEBUG", "DEBUG"), "log_format": ("json", "json"),
    "shard": ("2", 2), "cluster_map": ("cluster.json", os.path.abspath("cluster.json")),
    "maxmemory_policy": ("allkeys-lru", "allkeys-lru"), "memcached_item_size_max": ("2mb", 2 << 20),
    "memcached_disable_evictions": ("yes", True),
    "backup_key": ("b.key", os.path.abspath("b.key")), "aclfile": ("users.acl", os.path.abspath("users.acl")),
    "memcached_auth": ("no", "no"), "http_auth": ("yes", "yes"),
    "tls_cert_file": ("n.crt", os.path.abspath("n.crt")), "tls_key_file": ("n.key", os.path.abspath("n.key")),
    "tls_ca_cert_file": ("ca.crt", os.path.abspath("ca.crt")), "tls_ca_cert_dir": ("cas", os.path.abspath("cas")),
    "tls_auth_clients": ("optional", "optional"), "tls_auth_clients_user": ("cn", "CN"),
    "tls_protocols": ("TLSv1.3", "TLSv1.3"), "tls_ciphers": ("HIGH", "HIGH"),
    "tls_prefer_server_ciphers": ("yes", "yes"),
    "tls_ciphersuites": ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"), "tls_replication": ("no", "no"),
    "tls_plaintext_port_offset": ("5", 5),
}
_LOADER_ONLY = {"config", "data_dir"}   # the TOML file itself; the directory of keyspace.path and replication.data_dir
#: What a key is valid only with (a TLS certificate needs its key, and a CA to check clients with).
_TLS = {"tls_cert_file": "n.crt", "tls_key_file": "n.key", "tls_ca_cert_file": "ca.crt"}
_TOGETHER = {"tls_cert_file": {"tls_key_file": "n.key", "tls_ca_cert_file": "ca.crt"},
             "tls_key_file": {"tls_cert_file": "n.crt", "tls_ca_cert_file": "ca.crt"},
             "tls_plaintext_port_offset": _TLS,
             "shard": {"cluster_map": "cluster.json"}, "cluster_map": {"shard": "1"}}


def test_every_key_has_a_sample():
    assert set(SAMPLES) | _LOADER_ONLY == set(BY_KEY)


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_every_key_reaches_its_field_from_each_source(key, tmp_path):
    given, expected = SAMPLES[key]
    param = BY_KEY[key]
    base = {"id": "n2", "zone": "b", "host": "127.0.0.2", "base_port": "7010", "cluster_secret": "s",
            **_TOGETHER.get(key, {})}
    env = {BY_KEY[k].env: v for k, v in base.items()}
    argv = ["node", param.flag] if param.type is bool else ["node", param.flag, given]
    flag = sources.load(cli.build_parser().parse_args(argv), env)
    from_env = sources.load(_args(), {**env, param.env: given})
    loaded = [flag, from_env]
    if param.toml:
        toml = tmp_path / "node.toml"
        toml.write_text(f"{key} = {given!r}\n".replace("'", '"'))
        loaded.append(sources.load(_args(config=str(toml)), {k: v for k, v in env.items() if k != param.env}))
    for config in loaded:
        assert config.value(param.field) == expected


def test_precedence_flag_over_env_over_toml(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('zone = "toml"\nappendfsync = "no"\nmaxmemory = "64mb"\ncluster_secret = "t"\n')
    env = {"RAFTCACHE_ZONE": "env", "RAFTCACHE_APPENDFSYNC": "always"}
    config = sources.load(_args(config=str(toml), zone="flag"), env)
    assert config.zone == "flag"
    assert config.replication.appendfsync == "always"
    assert config.keyspace.maxmemory_bytes == 64 << 20
    assert config.replication.cluster_secret == "t"


def test_config_file_from_the_environment(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('cluster_secret = "t"\nzone = "c"\n')
    assert sources.load(_args(), {"RAFTCACHE_CONFIG": str(toml)}).zone == "c"


@pytest.mark.parametrize("text", ['zone = "a"\nmaxmemroy = "1gb"\n', 'log_level = "DEBUG"\n', 'config = "x"\n'])
def test_unknown_toml_keys_are_refused(tmp_path, text):
    toml = tmp_path / "node.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match="unknown keys"):
        sources.load(_args(config=str(toml)), {})


@pytest.mark.parametrize("key,value,message", [
    ("base_port", "x", "base_port, databases and max_log_version must be integers"),
    ("databases", "x", "base_port, databases and max_log_version must be integers"),
    ("backup_keep", "x", "backup_interval must be a number of seconds and backup_keep an integer"),
    ("maxmemory", "lots", "bad size"),
    ("tls_ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_RSA_WITH_RC4", "unknown TLS 1.3 cipher suite TLS_RSA_WITH_RC4"),
    ("tls_plaintext_port_offset", "3", "the node's own ports are base"),
])
def test_bad_values_from_the_environment(key, value, message):
    with pytest.raises(ConfigError, match=message):
        sources.load(_args(), {"RAFTCACHE_CLUSTER_SECRET": "s", BY_KEY[key].env: value})


def test_peers_from_flags(tmp_path):
    config = sources.load(
        _args(id="n2", zone="b", base_port=7010, cluster_secret="s",
              peers="n1@a=127.0.0.1:7000,n2@b=127.0.0.1:7010,n3@c=127.0.0.1:7020",
              data_dir=str(tmp_path)),
        {},
    )
    assert [p.id for p in config.members] == ["n1", "n2", "n3"]
    assert config.keyspace.path == str(tmp_path / "keyspace")
    assert config.replication.data_dir == str(tmp_path / "raft")


def test_a_read_replica_follows_the_voters_it_is_given():
    config = sources.load(_args(id="r1", zone="c", base_port=7030, cluster_secret="s", role="replica",
                                peers="n1@a=127.0.0.1:7000,n2@b=127.0.0.1:7010"), {})
    assert [p.id for p in config.members] == ["n1", "n2", "r1"]


# ---------------------------------------------------------------- CONFIG GET/SET

def test_config_defaults_come_from_the_node_configuration(tmp_path):
    config = sources.load(_args(base_port=7010, databases=4, maxmemory="64mb", appendfsync="always",
                                default_read="bounded", redis_password="pw", cluster_secret="s",
                                data_dir=str(tmp_path)), {})
    defaults = settings.node_defaults(config)
    assert set(defaults) == set(BY_CONFIG)
    assert {k: defaults[k] for k in ("port", "databases", "maxmemory", "appendfsync", "raftcache-default-read",
                                     "requirepass", "dir", "bind", "appendonly", "maxmemory-clients")} == {
        "port": "7011", "databases": "4", "maxmemory": str(64 << 20), "appendfsync": "always",
        "raftcache-default-read": "bounded:0", "requirepass": "#" + hashlib.sha256(b"pw").hexdigest(),
        "dir": str(tmp_path / "raft"),
        "bind": "127.0.0.1", "appendonly": "yes", "maxmemory-clients": "25%"}


def test_config_set_checks():
    assert settings.validate("maxmemory", "100mb") == str(100 << 20)
    assert settings.validate("hz", "anything") == "anything"            # tuning: accepted, no effect
    assert settings.validate("databases", "16", current="16") == "16"   # fixed: only its current value
    with pytest.raises(settings.SettingError, match="raftcache sets 'databases' in the node configuration"):
        settings.validate("databases", "8", current="16")
    with pytest.raises(settings.SettingError, match="Unknown option"):
        settings.validate("no-such-parameter", "1")
    assert settings.validate("maxmemory", "1") == "1", "any maxmemory, as Redis takes it"
    with pytest.raises(settings.SettingError, match="at least 1048576"):
        settings.validate("maxmemory", "1000", any_maxmemory=False)   # an entry before log version 19
    with pytest.raises(settings.SettingError, match="memory value"):
        settings.validate("maxmemory", "lots")


# ---------------------------------------------------------------- docs/configuration.md

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def test_the_doc_names_every_flag_variable_and_toml_key():
    rows = [p for p in PARAMS if p.key]
    missing = [p.key for p in rows if f"`{p.flag}" not in DOC or f"`{p.env}`" not in DOC
               or (p.toml and f"`{p.key}`" not in DOC)]
    assert missing == []


def test_the_docs_toml_example_loads(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text(re.search(r"^```toml\n(.*?)^```", DOC, re.S | re.M).group(1))
    config = sources.load(_args(config=str(toml)), {"RAFTCACHE_CLUSTER_SECRET": "s"})
    assert (config.id, config.keyspace.maxmemory_bytes, len(config.members)) == ("n2", 4 << 30, 3)
