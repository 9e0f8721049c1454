#!/usr/bin/env python3
"""Rolling restart (or upgrade) of a raftcache cluster, one node at a time, leader last.

For every voter, followers first: restart it, then wait until it answers,
follows the leader, has applied everything committed when it came back and
reports SERVING on the gRPC health service. The leader goes last, after
handing leadership to a caught-up follower (Admin.TransferLeader), so the
cluster never waits out an election timeout. Clients that retry UNAVAILABLE
against another node (the SDK does) see no failed request.

How a node is restarted:

  --cluster-json FILE     a `raftcache up` cluster (DATA_DIR/cluster.json): the
                          node's pid gets SIGTERM; when `up --restart-dead`
                          does not bring it back, the script starts its argv.
  --restart-cmd 'CMD {id}'  any other deployment, e.g.
                          'docker compose restart {id}' or 'systemctl restart raftcache@{id}'

Usage:
  python scripts/rolling_restart.py --endpoint 127.0.0.1:7000 --cluster-json raftcache-data/cluster.json
  python scripts/rolling_restart.py --endpoint 127.0.0.1:7000 --restart-cmd 'docker compose restart {id}'

The cluster secret (for TransferLeader, and for every call on a cluster that needs a password)
comes from --cluster-secret, RAFTCACHE_CLUSTER_SECRET or cluster.secret beside cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from raftcache.proto import admin_pb2, admin_pb2_grpc

SECRET_METADATA = "x-raftcache-secret"


class RollingRestartError(RuntimeError):
    pass


def _wait(condition: Callable[[], object], timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except grpc.RpcError as e:
            last = e.code().name
        time.sleep(0.1)
    raise RollingRestartError(f"timed out after {timeout_s:.0f}s waiting for {what}" + (f" ({last})" if last else ""))


class _Admin:
    """Admin and health stubs per gRPC address; channels are re-made after a restart."""

    def __init__(self, secret: str):
        self._secret = secret
        self._channels: dict[str, grpc.Channel] = {}

    def _channel(self, address: str) -> grpc.Channel:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpc.insecure_channel(
                address, options=[("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500)])
        return ch

    def reset(self, address: str) -> None:
        ch = self._channels.pop(address, None)
        if ch is not None:
            ch.close()

    # The cluster secret identifies the caller to Status and Topology too, which a cluster whose
    # default user needs a password asks for (docs/security.md).
    def status(self, address: str) -> admin_pb2.StatusReply:
        return admin_pb2_grpc.AdminStub(self._channel(address)).Status(
            admin_pb2.StatusRequest(), timeout=2, metadata=((SECRET_METADATA, self._secret),))

    def topology(self, address: str) -> admin_pb2.TopologyReply:
        return admin_pb2_grpc.AdminStub(self._channel(address)).Topology(
            admin_pb2.TopologyRequest(), timeout=2, metadata=((SECRET_METADATA, self._secret),))

    def transfer(self, address: str, to: str = "") -> admin_pb2.TransferLeaderReply:
        return admin_pb2_grpc.AdminStub(self._channel(address)).TransferLeader(
            admin_pb2.TransferLeaderRequest(to=to), timeout=20, metadata=((SECRET_METADATA, self._secret),))

    def serving(self, address: str) -> bool:
        reply = health_pb2_grpc.HealthStub(self._channel(address)).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()


def rolling_restart(endpoint: str, restart: Callable[[admin_pb2.Member], None], *, secret: str,
                    catch_up_timeout_s: float = 60.0, log: Callable[[str], None] = print) -> list[str]:
    """Restart every voter in turn, leader last; returns the ids in restart order.

    `restart(member)` stops the node and starts it again (it may return
    before the node answers). Raises RollingRestartError when a node does
    not come back or catch up in time; nodes not yet restarted are left alone.
    """
    admin = _Admin(secret)
    try:
        members = [m for m in admin.topology(endpoint).members if m.voter]
        by_id = {m.id: m for m in members}

        def leader_id() -> str:
            for m in members:
                try:
                    s = admin.status(m.grpc_address)
                except grpc.RpcError:
                    continue
                if s.role == "leader":
                    return s.id
            return ""

        leader = _wait(leader_id, 30, "a leader")
        order = sorted((m.id for m in members if m.id != leader)) + [leader]
        log(f"rolling restart of {len(order)} voters: {', '.join(order)} (leader {leader} last)")
        for node_id in order:
            member = by_id[node_id]
            current = _wait(leader_id, 30, "a leader")
            if current == node_id:
                reply = admin.transfer(member.grpc_address)
                log(f"{node_id}: leadership handed to {reply.leader_id}")
                _wait(lambda: leader_id() not in ("", node_id), 30, f"a leader other than {node_id}")
            log(f"{node_id}: restarting")
            restart(member)
            admin.reset(member.grpc_address)
            _wait_caught_up(admin, member, leader_id, catch_up_timeout_s)
            log(f"{node_id}: back, caught up and serving")
        return order
    finally:
        admin.close()


def _wait_caught_up(admin: _Admin, member, leader_id: Callable[[], str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s

    def left() -> float:
        return max(deadline - time.monotonic(), 0.1)

    _wait(lambda: admin.status(member.grpc_address), left(), f"{member.id} to answer")
    leader = _wait(leader_id, left(), "a leader")
    topo = admin.topology(member.grpc_address)
    leader_address = next((m.grpc_address for m in topo.members if m.id == leader), member.grpc_address)
    target = admin.status(leader_address).commit_index
    _wait(lambda: admin.status(member.grpc_address).applied_index >= target, left(),
          f"{member.id} to apply index {target}")
    _wait(lambda: admin.serving(member.grpc_address), left(), f"{member.id} to report SERVING")


# ---------------------------------------------------------------- restart strategies

def restart_from_cluster_json(path: str) -> Callable[[admin_pb2.Member], None]:
    """Restart a node of a `raftcache up` cluster: SIGTERM its pid, then (unless
    `up --restart-dead` brings it back) start its argv again, detached."""

    def load() -> dict:
        with open(path) as f:
            return {n["id"]: n for n in json.load(f)["nodes"]}

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie child of `up` that has not been reaped yet counts as dead
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(") ", 1)[1][:1] != "Z"
        except (FileNotFoundError, IndexError):
            return False

    def restart(member) -> None:
        record = load()[member.id]
        pid = record["pid"]
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait(lambda: not alive(pid), 30, f"{member.id} (pid {pid}) to stop")
        try:  # `up --restart-dead` respawns it and rewrites cluster.json
            _wait(lambda: load()[member.id]["pid"] != pid, 2.0, "up to restart it")
            return
        except RollingRestartError:
            pass
        log_path = os.path.join(os.path.dirname(record["data_dir"]), f"{member.id}.log")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(record["argv"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with open(path) as f:
            data = json.load(f)
        for n in data["nodes"]:
            if n["id"] == member.id:
                n["pid"] = proc.pid
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)

    return restart


def restart_with_command(template: str) -> Callable[[admin_pb2.Member], None]:
    def restart(member) -> None:
        argv = [part.replace("{id}", member.id) for part in shlex.split(template)]
        subprocess.run(argv, check=True)

    return restart


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", required=True, help="gRPC address of any node")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--cluster-json", help="cluster.json written by `raftcache up`")
    how.add_argument("--restart-cmd", help="command restarting one node; {id} is replaced by the node id")
    p.add_argument("--cluster-secret", default=None, help="default: RAFTCACHE_CLUSTER_SECRET or cluster.secret")
    p.add_argument("--catch-up-timeout", type=float, default=60.0, help="seconds per node (default 60)")
    args = p.parse_args(argv)
    secret = args.cluster_secret or os.environ.get("RAFTCACHE_CLUSTER_SECRET", "")
    if not secret and args.cluster_json:
        try:
            with open(os.path.join(os.path.dirname(os.path.abspath(args.cluster_json)), "cluster.secret")) as f:
                secret = f.read().strip()
        except FileNotFoundError:
            pass
    if not secret:
        print("rolling_restart: error: the cluster secret is needed (RAFTCACHE_CLUSTER_SECRET)", file=sys.stderr)
        return 2
    restart = restart_from_cluster_json(args.cluster_json) if args.cluster_json else restart_with_command(args.restart_cmd)
    try:
        rolling_restart(args.endpoint, restart, secret=secret, catch_up_timeout_s=args.catch_up_timeout)
    except (RollingRestartError, grpc.RpcError, subprocess.CalledProcessError) as e:
        detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
        print(f"rolling_restart: error: {detail}", file=sys.stderr)
        return 1
    print("rolling restart complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
