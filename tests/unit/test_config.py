"""Configuration: parsing peers and sizes, validation, and flag/env/TOML precedence."""

import argparse

import pytest

from raftcache import nodeconfig
from raftcache.node.config import KeyspaceConfig, NodeConfig, Peer, ReplicationConfig
from raftcache.node.errors import ConfigError
from raftcache.peers import PeerSpecError


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
        nodeconfig.load(argparse.Namespace(peers=f"n1@a=127.0.0.1:7000,{spec}"), {"RAFTCACHE_CLUSTER_SECRET": "s"})


@pytest.mark.parametrize("text,expected", [("1048576", 1 << 20), ("512mb", 512 << 20), ("2GB", 2 << 30), ("64k", 64 << 10)])
def test_sizes(text, expected):
    assert nodeconfig.parse_size(text) == expected


def test_bad_size():
    with pytest.raises(ConfigError, match="bad size"):
        nodeconfig.parse_size("lots")


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
    ],
)
def test_invalid_parts(part, message):
    with pytest.raises(ConfigError, match=message):
        part.validate()


def _args(**kw):
    ns = argparse.Namespace(**{k: None for k in nodeconfig.KEYS}, config=None)
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_precedence_flag_over_env_over_toml(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('zone = "toml"\nappendfsync = "no"\nmaxmemory = "64mb"\ncluster_secret = "t"\n')
    env = {"RAFTCACHE_ZONE": "env", "RAFTCACHE_APPENDFSYNC": "always"}
    config = nodeconfig.load(_args(config=str(toml), zone="flag"), env)
    assert config.zone == "flag"
    assert config.replication.appendfsync == "always"
    assert config.keyspace.maxmemory_bytes == 64 << 20
    assert config.replication.cluster_secret == "t"


def test_unknown_toml_keys_are_refused(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('zone = "a"\nmaxmemroy = "1gb"\n')
    with pytest.raises(ConfigError, match="maxmemroy"):
        nodeconfig.load(_args(config=str(toml)), {})


def test_peers_from_flags(tmp_path):
    config = nodeconfig.load(
        _args(id="n2", zone="b", base_port=7010, cluster_secret="s",
              peers="n1@a=127.0.0.1:7000,n2@b=127.0.0.1:7010,n3@c=127.0.0.1:7020",
              data_dir=str(tmp_path)),
        {},
    )
    assert [p.id for p in config.members] == ["n1", "n2", "n3"]
    assert config.keyspace.path.startswith(str(tmp_path))
