"""One node process: wires keyspace, state machine, replication, service and
the front ends together, serves until SIGTERM/SIGINT, then shuts down cleanly.

The Raft object is built in the main thread (PySyncObj's tick thread stops
when its creating thread dies); the asyncio loop (uvloop when installed) runs
every front end in the same main thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from raftcache.node.config import NodeConfig

log = logging.getLogger("raftcache.node")

#: Exit status when the node stops because it cannot apply the log.
EXIT_FATAL_APPLY = 70


def run(config: NodeConfig) -> int:
    """Run a node until it is told to stop; returns the process exit status."""
    from raftcache.node.forwarding import GrpcForwarder
    from raftcache.node.keyspace import Keyspace
    from raftcache.node.replication import Replicator
    from raftcache.node.service import Service
    from raftcache.node.statemachine import StateMachine

    config.validate()
    os.makedirs(config.replication.data_dir, exist_ok=True)
    keyspace = Keyspace(config.keyspace)
    statemachine = StateMachine(keyspace, config.keyspace)
    service: Service | None = None

    def apply(index: int, data: bytes):
        result = statemachine.apply(index, data)
        if service is not None:
            service.on_applied(index)
        return result

    def fatal(exc: BaseException) -> None:
        # Replicas must never diverge: stop rather than skip the entry.
        log.critical("cannot apply the log (%s); stopping the node", exc, exc_info=exc)
        logging.shutdown()
        os._exit(EXIT_FATAL_APPLY)

    replicator = Replicator(
        config.replication, config.self_peer, config.members, apply, KeyspaceSnapshots(keyspace), on_fatal=fatal
    )
    forwarder = GrpcForwarder(
        {p.id: p for p in config.members}, config.replication.cluster_secret, config.service.request_timeout_s
    )
    service = Service(config, statemachine, replicator, keyspace, forwarder)
    replicator.start()
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(_serve(config, service, forwarder))
    finally:
        replicator.close()
        keyspace.close()
    return 0


class KeyspaceSnapshots:
    """The replicator's SnapshotHooks over the keyspace."""

    def __init__(self, keyspace):
        self._keyspace = keyspace

    @property
    def applied_index(self) -> int:
        return self._keyspace.applied_index

    def save(self, path: str) -> int:
        return self._keyspace.copy_to(path)

    def load(self, path: str) -> None:
        self._keyspace.restore_from(path)


async def _serve(config: NodeConfig, service, forwarder) -> None:
    from raftcache.node import http
    from raftcache.node.frontends import grpc as grpc_frontend

    loop = asyncio.get_running_loop()
    service.attach(loop)
    host = config.host
    grpc_server, _health = await grpc_frontend.start_server(service, host, config.port("grpc"))
    servers: list[asyncio.Server] = []
    try:
        servers.append(await http.start_server(service, host, config.port("http")))
        for name, kind in (("resp", "redis"), ("memcache", "memcached")):
            module = _frontend(name)
            if module is not None:
                servers.append(await module.start_server(service, host, config.port(kind), config.frontend))
        service.start_background()

        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "node %s (zone %s) serving: grpc %s:%d redis %d memcached %d raft %d http %d",
            config.id, config.zone, host, config.port("grpc"), config.port("redis"),
            config.port("memcached"), config.port("raft"), config.port("http"),
        )
        await stop.wait()
        log.info("node %s stopping", config.id)
    finally:
        for server in servers:
            server.close()
        await grpc_server.stop(grace=1.0)
        await service.close()
        await forwarder.close()


def _frontend(name: str):
    """The front-end module, or None while it is not part of this build."""
    import importlib

    try:
        return importlib.import_module(f"raftcache.node.frontends.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"raftcache.node.frontends.{name}":
            raise
        log.warning("front end %s is not available in this build", name)
        return None


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
