"""One node process: wires keyspace, state machine, replication, service and
the front ends together, serves until SIGTERM/SIGINT, then shuts down cleanly.

The Raft object is built in the main thread (PySyncObj's tick thread stops
when its creating thread dies); the asyncio loop (uvloop when installed) runs
every front end in the same main thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import signal

from raftcache.node.config import NodeConfig
from raftcache.node.errors import ConfigError

log = logging.getLogger("raftcache.node")

#: Exit status when the node stops because it cannot apply the log.
EXIT_FATAL_APPLY = 70
#: Exit status when the node stops because it cannot write its data dir (EX_IOERR):
#: term/vote, journal or keyspace writes failed (docs/durability.md "Disk faults").
EXIT_DISK_ERROR = 74
_DISK_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EIO, errno.EDQUOT}
_DISK_MESSAGES = ("Read-only file system", "No space left on device", "Input/output error", "Disk quota exceeded")


def is_disk_error(exc: BaseException | None) -> bool:
    """True when `exc` (or what caused it) is a failed write to the disk (EROFS, ENOSPC, EIO, EDQUOT)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            return True
        if any(m in str(exc) for m in _DISK_MESSAGES):
            return True  # lmdb reports errno as text
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _exit_disk_error(what: str, exc: BaseException) -> None:
    log.critical("cannot write %s (%s): stopping the node (exit status %d). Nothing after the failed "
                 "write was sent to a peer; fix the disk (writable, space free) and start the node "
                 "again: it rejoins from what it has on disk", what, exc, EXIT_DISK_ERROR)
    logging.shutdown()
    os._exit(EXIT_DISK_ERROR)


def data_dir_of(config: NodeConfig) -> str:
    """The node's data dir (the keyspace and the Raft files live in subdirectories of it)."""
    return os.path.dirname(os.path.abspath(config.replication.data_dir))


def private_files(data_dir: str) -> None:
    """Every file and directory the node creates is 0600 / 0700 (umask), and those an older
    version left under its data dir are made so (docs/security.md "Secrets at rest")."""
    os.umask(0o077)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            _chmod(os.path.join(root, name), 0o700)
        for name in files:
            _chmod(os.path.join(root, name), 0o600)
    _chmod(data_dir, 0o700)


def _chmod(path: str, mode: int) -> None:
    try:
        if os.stat(path, follow_symlinks=False).st_mode & 0o777 & ~mode:
            os.chmod(path, mode, follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass  # not ours to change (a symlink, another owner): left as it is


def run(config: NodeConfig) -> int:
    """Run a node until it is told to stop; returns the process exit status."""
    from raftcache.node.ops import backup
    from raftcache.node.service import grpc_codec
    from raftcache.node.raft import journal as _journal
    from raftcache.node.frontends.grpc import RaftForwardedBatches
    from raftcache.node.service.forwarding import GrpcForwarder, RaftForwarder
    from raftcache.node.storage.keyspace import Keyspace
    from raftcache.node.ops.membership import MEMBERSHIP_FILE, Membership
    from raftcache.node.raft.replication import Replicator
    from raftcache.node.service.service import Service
    from raftcache.node.commands.statemachine import StateMachine

    config.validate()
    data_dir = data_dir_of(config)
    os.makedirs(data_dir, exist_ok=True)
    private_files(data_dir)
    from raftcache.node.service.tls import TlsContexts

    tls = TlsContexts(config.tls) if config.tls.enabled else None
    peer_credentials = tls.channel_credentials() if tls is not None else None
    if config.restore:
        from raftcache import backup_crypto

        # Every check runs before anything is written (backup.restore_into).
        from raftcache.progress import Progress

        restoring = Progress("restore", write=log.info)   # a line per tenth in the node's log
        try:
            with backup_crypto.plaintext(config.restore, config.backup_key, data_dir) as plain:
                meta, restored = backup.restore_into(plain, data_dir, config.keyspace.path,
                                                     config.replication.data_dir,
                                                     progress=restoring, step=restoring.step)
        except backup_crypto.BackupKeyError as e:
            raise backup.BackupError(str(e)) from None
        if restored:
            log.info("restored from %s: index %d of cluster %s, %d keys",
                     config.restore, meta.applied_index, meta.cluster_id, meta.key_count)
    os.makedirs(config.replication.data_dir, exist_ok=True)
    cluster_id = backup.cluster_id(data_dir, config.replication.cluster_secret)
    from raftcache.node import commands, pulse, scripting

    max_version = config.replication.max_log_version or commands.MAX_VERSION
    if max_version > commands.MAX_VERSION:
        raise ConfigError(f"max_log_version {max_version}: this binary supports up to {commands.MAX_VERSION}")
    keyspace = Keyspace(config.keyspace)
    scripting.install()   # EVAL / FCALL at apply (node/commands/scripting.py)
    statemachine = StateMachine(keyspace, config.keyspace, max_version)
    service: Service | None = None

    def apply(index: int, data: bytes):
        result = statemachine.apply(index, data)
        if service is not None:
            service.on_applied(index)
        return result

    def fatal(exc: BaseException) -> None:
        # Replicas must never diverge: stop rather than skip the entry.
        if is_disk_error(exc):
            _exit_disk_error(f"the keyspace ({config.keyspace.path})", exc)
        log.critical("cannot apply the log (%s); stopping the node", exc, exc_info=exc)
        logging.shutdown()
        os._exit(EXIT_FATAL_APPLY)

    _journal.set_disk_error_handler(_exit_disk_error)
    readonly = config.role == "replica"
    voters = [p for p in config.members if not (readonly and p.id == config.id)]
    replicator = Replicator(
        config.replication, config.self_peer, voters, apply, KeyspaceSnapshots(statemachine), on_fatal=fatal,
        readonly=readonly, join=config.join, max_version=max_version, peer_tls=tls.peer if tls else None,
    )
    pulse.install(replicator.heartbeat_if_due)   # heartbeats through one long entry or read (node/pulse.py)
    forwarder_peers = {p.id: p for p in voters}
    forwarder = GrpcForwarder(forwarder_peers, config.replication.cluster_secret, config.service.request_timeout_s,
                              grpc_codec.request_size_limit(config.keyspace.max_value_bytes,
                                                            statemachine.limits.max_value_bytes),
                              credentials=peer_credentials)
    # forwarded writes over the Raft connection where the leader answers them, else gRPC
    forwarder = RaftForwarder(forwarder, replicator, config.service.request_timeout_s)
    service = Service(config, statemachine, replicator, keyspace, forwarder)
    replicator.serve_forwards(RaftForwardedBatches(service))
    replicator.watch.latency = service.diagnostics.latency   # LATENCY's commit/apply/fsync/snapshot/election
    if _log_context is not None:
        _log_context.state = lambda: (replicator.term, replicator.applied_index)
    if config.shard:
        from raftcache.clustermap import ClusterMap, ClusterMapError
        from raftcache.node.service.cluster import ClusterView, OtherShardsPeers

        try:
            cluster_map = ClusterMap.load(config.cluster_map)
            members = {p.id for p in cluster_map.shard(config.shard).members}
        except ClusterMapError as e:
            raise ConfigError(str(e)) from None
        if config.id not in members:
            raise ConfigError(f"node {config.id} is not a member of shard {config.shard} in {config.cluster_map}")
        service.cluster = ClusterView(cluster_map, config.shard, service, config.replication.cluster_secret,
                                      peer_credentials, map_path=config.cluster_map)
        from raftcache.node.service.shard_forward import ShardForwarder

        # the other shards' members as the view's map has them now (ctl add-shard adds some)
        others = OtherShardsPeers(service.cluster)
        service.shard_forwarder = ShardForwarder(service.cluster, service, GrpcForwarder(
            others, config.replication.cluster_secret, config.service.request_timeout_s,
            grpc_codec.request_size_limit(config.keyspace.max_value_bytes, statemachine.limits.max_value_bytes),
            credentials=peer_credentials), config.service.request_timeout_s)
    membership = Membership(os.path.join(data_dir, MEMBERSHIP_FILE), config.self_peer, voters, replicator,
                            forwarder_peers, advertised=config.advertised_peer, credentials=peer_credentials,
                            secret=config.replication.cluster_secret)
    replicator.start(on_loop=config.replication.raft_on_loop)
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(_serve(config, service, forwarder, _OpsParts(
            replicator, membership, keyspace, cluster_id, data_dir, tls)))
    finally:
        replicator.close()
        keyspace.close()
    return 0


class KeyspaceSnapshots:
    """The replicator's SnapshotHooks over the state machine."""

    def __init__(self, statemachine):
        self._sm = statemachine

    @property
    def applied_index(self) -> int:
        return self._sm.applied_index

    def save(self, path: str) -> int:
        return self._sm.snapshot(path)

    def load(self, path: str) -> None:
        self._sm.restore(path)


@dataclasses.dataclass
class _OpsParts:
    replicator: object
    membership: object
    keyspace: object
    cluster_id: str
    data_dir: str
    tls: object = None       # node/service/tls.TlsContexts when the ports speak TLS


async def _serve(config: NodeConfig, service, forwarder, parts: _OpsParts) -> None:
    from raftcache.node import collector
    from raftcache.node.frontends import http
    from raftcache.node.frontends import grpc as grpc_frontend
    from raftcache.node.frontends import memcache as memcache_frontend
    from raftcache.node.frontends import resp as resp_frontend
    from raftcache.node.ops.membership import Operations

    loop = asyncio.get_running_loop()
    service.attach(loop)
    if parts.replicator.on_loop:
        parts.replicator.attach_loop(loop)   # from here this loop runs the Raft ticks (one thread)
    # The Admin servicer finds the operator verbs here (node/frontends/grpc_admin.py).
    service.operations = Operations(
        service, parts.replicator, parts.membership, role=config.role, cluster_id=parts.cluster_id,
        secret=config.replication.cluster_secret, keyspace=parts.keyspace, data_dir=parts.data_dir)
    collector.settle()   # before any client connects: start-up's objects frozen (node/collector.py)
    host = config.host
    tls = parts.tls
    # The health service (grpc.health.v1) is kept by the gRPC front end itself.
    # `--tls-plaintext-port-offset N`: each client port also serves plaintext at its port + N.
    plain = config.tls.plaintext_port_offset if tls is not None else 0
    grpc_server, _health = await grpc_frontend.start_server(service, host, config.port("grpc"), tls,
                                                            config.port("grpc") + plain if plain else 0)
    servers: list[asyncio.Server] = []
    tasks = [
        asyncio.ensure_future(parts.membership.run()),
        asyncio.ensure_future(collector.collect_every()),
        asyncio.ensure_future(collector.report_pauses(service.diagnostics.latency.record)),   # LATENCY's gc
    ]
    if service.cluster is not None:
        tasks.append(asyncio.ensure_future(service.cluster.run()))
    if config.backup.dir:
        tasks.append(asyncio.ensure_future(_backup_loop(config, parts)))
    if tls is not None:
        tasks.append(asyncio.ensure_future(tls.run_reloader()))
    if config.frontend.aclfile:
        from raftcache.node.frontends import acl_catalog
        from raftcache.node.ops import aclfile

        tasks.append(asyncio.ensure_future(aclfile.seed(service, config.frontend.aclfile, acl_catalog.known)))
    try:
        servers.append(await http.start_server(service, host, config.port("http"),
                                               ssl=tls.server_context if tls is not None else None,
                                               ssl_client=tls.client_context if tls is not None else None))
        for module, kind in ((resp_frontend, "redis"), (memcache_frontend, "memcached")):
            servers.append(await module.start_server(service, host, config.port(kind), config.frontend, tls))
        if plain:
            servers.append(await http.start_server(service, host, config.port("http") + plain))
            for module, kind in ((resp_frontend, "redis"), (memcache_frontend, "memcached")):
                servers.append(await module.start_server(service, host, config.port(kind) + plain, config.frontend))
        service.start_background()

        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "node %s (zone %s) serving: grpc %s:%d redis %d memcached %d raft %d http %d%s",
            config.id, config.zone, host, config.port("grpc"), config.port("redis"),
            config.port("memcached"), config.port("raft"), config.port("http"),
            "" if tls is None else f" (TLS; plaintext too at each client port + {plain})" if plain
            else " (TLS only on every client port)",
        )
        await stop.wait()
        log.info("node %s stopping", config.id)
        await _hand_over(service.operations)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            server.close()
        # In-flight requests may finish (they are bounded by the request timeout);
        # the forwarder closes only after them, so no forwarded call is cut off.
        await grpc_server.stop(grace=SHUTDOWN_GRACE_S)
        await service.close()
        await forwarder.close()
        if service.shard_forwarder is not None:
            await service.shard_forwarder.close()


#: How long a stopping node lets in-flight gRPC requests finish.
SHUTDOWN_GRACE_S = 3.0
#: How long a stopping leader tries to hand leadership over first.
HANDOVER_TIMEOUT_S = 1.0


async def _hand_over(ops) -> None:
    """A leader that is told to stop hands leadership to a caught-up voter first,
    so that clients wait for a transfer (~ms) rather than an election timeout."""
    if not ops.voter or not ops.replicator.is_leader or len(ops.membership.voters()) < 2:
        return
    try:
        new_leader = await ops.transfer_leader(None, timeout_s=HANDOVER_TIMEOUT_S)
        log.info("handed leadership to %s before stopping", new_leader)
    except Exception as e:  # noqa: BLE001 - stopping anyway
        log.warning("could not hand leadership over before stopping: %s", e)


async def _backup_loop(config: NodeConfig, parts: _OpsParts) -> None:
    """Automatic snapshots every interval, keeping the newest `keep` (node/ops/backup.py)."""
    from raftcache.node.ops import backup

    schedule = config.backup
    while True:
        await asyncio.sleep(schedule.interval_s)
        try:
            path = await asyncio.to_thread(
                backup.take_scheduled, parts.keyspace, schedule, cluster_id=parts.cluster_id,
                term=parts.replicator.term, node_id=config.id, zone=config.zone)
            log.info("automatic snapshot written: %s", path)
        except Exception:  # noqa: BLE001 - a failed snapshot must not stop the node
            log.exception("automatic snapshot failed")


#: The log's node context (node/logformat.py): told the term and index once Raft runs.
_log_context = None


def configure_logging(level: str = "INFO", log_format: str = "text", node_id: str = "") -> None:
    """The node's log on stderr: `text` or `json` lines naming the node, the term and the index."""
    global _log_context
    from raftcache.node import logformat

    _log_context = logformat.configure(level, log_format, node_id)
