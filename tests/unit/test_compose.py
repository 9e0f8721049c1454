"""docker-compose.yml and the Dockerfile, checked without a container engine.

Each service's command line must be accepted by `raftcache node` (the real
argument parser and config loader, which validates it), and must run a node
the way the integration tests do (raftcache/localcluster.py): the same flags, one
shared peer list, one node per zone. Volumes, health checks and published
ports are what docs/operations.md promises.
"""

from __future__ import annotations

import pathlib

import pytest

from raftcache import cli
from raftcache.node.config import PORT_OFFSETS, Peer, sources

yaml = pytest.importorskip("yaml")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _services(compose):
    return sorted(compose["services"].items())


def _integration_flags(tmp_path) -> set[str]:
    """The flags the local cluster launcher (raftcache/localcluster.py) passes to `raftcache node`."""
    from raftcache.localcluster import LocalCluster

    c = LocalCluster(str(tmp_path), 3, base_port=20000)   # a fixed base port: no sockets
    argv = c.nodes[0].argv
    return {a for a in argv[argv.index("node") + 1:] if a.startswith("--")}


def test_three_nodes_one_per_zone(compose):
    services = _services(compose)
    assert len(services) == 3
    zones = [svc["labels"]["raftcache.zone"] for _, svc in services]
    assert sorted(zones) == ["a", "b", "c"]


def test_each_command_is_accepted_by_raftcache_node(compose):
    parser = cli.build_parser()
    peer_lists = set()
    for name, svc in _services(compose):
        args = parser.parse_args(svc["command"])
        assert args.command == "node"
        config = sources.load(args, {"RAFTCACHE_CLUSTER_SECRET": "s"})   # validates
        assert config.id == name and config.host == svc["hostname"] == name
        assert config.zone == svc["labels"]["raftcache.zone"]
        assert config.role == "voter" and config.backup.dir == "/backups" and config.backup.keep >= 1
        peer_lists.add(args.peers)
        me = next(p for p in config.peers if p.id == name)
        assert (me.host, me.base_port, me.zone) == (config.host, config.base_port, config.zone)
    assert len(peer_lists) == 1, "every node must be started with the same member list"


def test_commands_match_the_integration_tests(compose, tmp_path):
    expected = _integration_flags(tmp_path)
    for name, svc in _services(compose):
        flags = {a for a in svc["command"] if a.startswith("--")}
        missing = expected - flags
        assert not missing, f"{name} lacks {missing} that the integration tests pass"
        # --advertise: tests/integration/test_advertise.py
        unknown = flags - expected - {"--backup-dir", "--backup-interval", "--backup-keep", "--advertise"}
        assert not unknown, f"{name} passes {unknown}, which no integration test exercises"


def test_secret_comes_from_the_environment_not_the_file(compose):
    for _, svc in _services(compose):
        assert "--cluster-secret" not in svc["command"]
        assert "RAFTCACHE_CLUSTER_SECRET" in svc["environment"]


def test_named_volumes_health_checks_and_ports(compose):
    volumes = set(compose["volumes"])
    published = set()
    for name, svc in _services(compose):
        args = cli.build_parser().parse_args(svc["command"])
        mounts = dict(v.split(":", 1) for v in svc["volumes"])
        assert mounts[f"{name}-data"] == args.data_dir
        assert set(mounts) <= volumes
        test = svc["healthcheck"]["test"]
        assert test[:2] == ["CMD", "raftcache"] and test[-1] == "health"
        endpoint = test[test.index("--endpoint") + 1]
        assert endpoint == f"{args.host}:{args.base_port + PORT_OFFSETS['grpc']}"
        cli.build_parser().parse_args(test[2:])       # a valid ctl command line
        container_ports = set()
        for mapping in svc["ports"]:
            host_port, container_port = (int(x) for x in str(mapping).split(":"))
            assert host_port not in published
            published.add(host_port)
            container_ports.add(container_port)
        base = args.base_port
        assert container_ports == {base + PORT_OFFSETS[k] for k in ("grpc", "redis", "memcached", "http")}
        assert base + PORT_OFFSETS["raft"] not in container_ports   # peers only


def test_dockerfile_runs_the_raftcache_entry_point():
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["raftcache"]' in text
    assert "pip install ." in text
    for port in (7000, 7001, 7002):
        assert str(port) in text


def test_peer_specs_parse():
    for spec in "n1@a=n1:7000,n2@b=n2:7000,n3@c=n3:7000".split(","):
        Peer.parse(spec)


def test_every_node_advertises_its_published_ports(compose):
    """The SDK on the host reaches each node at its advertised address: those ports must be published."""
    parser = cli.build_parser()
    for name, svc in _services(compose):
        config = sources.load(parser.parse_args(svc["command"]), {"RAFTCACHE_CLUSTER_SECRET": "s"})
        advertised = config.advertised_peer
        published = dict((int(x) for x in str(mapping).split(":")) for mapping in svc["ports"])
        for kind in ("grpc", "redis", "memcached", "http"):
            assert published.get(advertised.port(kind)) == config.port(kind), f"{name}: {kind} not published"
        assert advertised.host == "localhost"


# ---------------------------------------------------------------- docker-compose.sharded.yml

def test_sharded_compose_matches_its_cluster_map():
    """2 shards x 3 nodes: each command is accepted by `raftcache node`, names its shard's members
    as --peers exactly as cluster.sharded.json does, and advertises what the map advertises
    (a published port: -MOVED and CLUSTER SLOTS send host clients there)."""
    from raftcache.clustermap import ClusterMap

    compose = yaml.safe_load((ROOT / "docker-compose.sharded.yml").read_text())
    cmap = ClusterMap.load(str(ROOT / "cluster.sharded.json"))
    parser = cli.build_parser()
    seen = set()
    for name, svc in _services(compose):
        config = sources.load(parser.parse_args(svc["command"]), {"RAFTCACHE_CLUSTER_SECRET": "s"})  # validates
        shard = cmap.shard(config.shard)
        assert config.cluster_map == "/etc/raftcache/cluster.json"
        assert "./cluster.sharded.json:/etc/raftcache/cluster.json:ro" in svc["volumes"]
        assert [p.spec() for p in config.peers] == [p.spec() for p in shard.members]
        assert svc["labels"]["raftcache.shard"] == str(config.shard)
        me = next(p for p in shard.members if p.id == name)
        assert shard.client_peer(me) == config.advertised_peer
        published = dict((int(x) for x in str(mapping).split(":")) for mapping in svc["ports"])
        assert published.get(config.advertised_peer.port("redis")) == config.port("redis")
        seen.add(name)
    assert seen == {p.id for s in cmap.shards for p in s.members} and len(cmap.shards) == 2
