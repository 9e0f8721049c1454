"""The gRPC Admin service: status, topology, backups, membership and leadership.

Translates between admin.proto and the node's operations; no business
logic here. Status comes from Service.status(); membership (which changes
at run time, unlike NodeConfig.peers), backups and the operator verbs come
from the node's `Operations` (node/ops/membership.py), which node/server.py
attaches to the service as `service.operations` (None in a bare service:
then the static configuration is reported and the verbs are unavailable).

Every call needs an identity when the cluster needs a password (node/frontends/
grpc_auth.py): Status and Topology any ACL user or the cluster secret (the
SDK routes with them, nodes name each other with them). Backup, AddNode,
RemoveNode and TransferLeader expose all data or change the cluster: they
require the cluster secret in the call metadata, and a user named with it
must be allowed Redis's SAVE, CLUSTER MEET/FORGET or FAILOVER (@admin
@dangerous).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import shutil
import tempfile

from raftcache import __version__
from raftcache.node.service import grpc_codec
from raftcache.node.config import Peer
from raftcache.node.errors import CommandError, RaftcacheError, Reason, UnavailableError
from raftcache.node.frontends import acl_catalog
from raftcache.node.frontends.grpc_auth import CLUSTER
from raftcache.node.service import resharding
from raftcache.proto import admin_pb2, admin_pb2_grpc, commands_pb2

SECRET_METADATA = "x-raftcache-secret"


def member_proto(peer, voter: bool = True) -> admin_pb2.Member:
    return admin_pb2.Member(
        id=peer.id,
        zone=peer.zone,
        grpc_address=peer.address("grpc"),
        redis_address=peer.address("redis"),
        memcached_address=peer.address("memcached"),
        raft_address=peer.address("raft"),
        http_address=peer.address("http"),
        voter=voter,
    )


def peer_from_member(m: admin_pb2.Member) -> Peer:
    """The Peer an AddNode request names (ports follow the convention from the Raft port)."""
    from raftcache.node.ops.membership import peer_from_raft_address

    if not m.id or not m.raft_address:
        raise CommandError("a member needs at least id and raft_address", Reason.INVALID_ARGUMENT)
    try:
        return peer_from_raft_address(m.raft_address, m.id, m.zone or "?")
    except ValueError:
        raise CommandError(f"bad raft address {m.raft_address!r}", Reason.INVALID_ARGUMENT) from None


async def _abort(context, error: RaftcacheError):
    status = grpc_codec.error_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


#: The Redis command each operator verb is checked as (ACL rules name these).
VERB_COMMANDS = {"Backup": "save", "AddNode": "cluster|meet", "RemoveNode": "cluster|forget",
                 "TransferLeader": "failover", "Migrate": "cluster|setslot"}


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, service, login):
        self._service = service
        self._login = login

    @property
    def _ops(self):
        return getattr(self._service, "operations", None)

    async def _require_ops(self, context, verb: str):
        user = await self._login.user(context, secret_ok=True)
        if user == CLUSTER:  # the secret alone: a member or an operator (checked again below)
            return await self._require_secret(context)
        name = VERB_COMMANDS[verb]
        parent, _, sub = name.partition("|")
        refused = self._service.identity.check(user, name, acl_catalog.categories(name), parent=parent if sub else "",
                                             client_info=f"addr={context.peer()} proto=grpc")
        if refused is not None:
            await _abort(context, refused)
        return await self._require_secret(context)

    async def _require_secret(self, context):
        ops = self._ops
        if ops is None:
            await _abort(context, UnavailableError("operations are not available on this node"))
        expected = ops.secret.encode()
        for key, value in context.invocation_metadata() or ():
            if key == SECRET_METADATA and hmac.compare_digest(value.encode(), expected):
                return ops
        await _abort(context, CommandError(
            "this admin call needs the cluster secret (x-raftcache-secret metadata)", Reason.UNAUTHENTICATED))

    async def _voters(self, s: dict) -> list:
        ops = self._ops
        if ops is None:
            return [m["peer"] for m in s["members"]]
        return await ops.membership.named_voters()

    async def Status(self, request, context):
        await self._login.user(context, secret_ok=True)
        s = self._service.status()
        ops = self._ops
        role = s["role"]
        if ops is not None and not ops.voter:
            role = "replica"
        reply = admin_pb2.StatusReply(
            id=s["id"],
            zone=s["zone"],
            role=role,
            leader_id=s["leader_id"],
            term=s["term"],
            commit_index=s["commit_index"],
            applied_index=s["applied_index"],
            last_index=s["last_index"],
            keys=s["keys"],
            used_bytes=s["used_bytes"],
            maxmemory_bytes=s["maxmemory_bytes"],
            last_leader_contact_s=min(s["last_leader_contact_s"], 1e9),
            appendfsync=s["appendfsync"],
            version=__version__,
            cluster_id=ops.cluster_id if ops else "",
            voter=ops.voter if ops else True,
            replicas_connected=ops.replicator.replicas_connected if ops else 0,
            log_version=s["log_version"],
            max_log_version=s["max_log_version"],
            apply_blocked=s["apply_blocked"],
            snapshot_bytes=s.get("snapshot_bytes", 0),
            snapshot_received_bytes=s.get("snapshot_received_bytes", 0),
        )
        shard = s.get("shard")
        if shard is not None:
            reply.shard.shard, reply.shard.epoch = shard["shard"], shard["epoch"]
            reply.shard.slots.extend(commands_pb2.SlotRange(first=a, last=b) for a, b in shard["slots"])
            for view in self._service.cluster.shard_views():
                reply.cluster.add(shard=view["shard"], epoch=view["epoch"], leader_id=view["leader_id"],
                                  slots=[commands_pb2.SlotRange(first=a, last=b) for a, b in view["slots"]],
                                  members=[member_proto(p) for p in view["members"]])
            if self._service.cluster is not None and self._service.migration.active:
                reply.shard.migration.CopyFrom(self._service.migration.current)
                reply.shard.migration.ClearField("frozen")
        if ops is not None:
            reply.advertised.CopyFrom(member_proto(ops.membership.advertised(ops.membership.me), voter=ops.voter))
        states = {m["id"]: m for m in s["members"]}
        raft_states = {}
        if ops is not None:
            raft_states = {m.id: m for m in ops.replicator.members_status()}
        for peer in await self._voters(s):
            rs = raft_states.get(peer.id)
            st = states.get(peer.id, {})
            connected = rs.connected if rs is not None else bool(st.get("connected")) or peer.id == s["id"]
            match = (rs.match_index or 0) if rs is not None else st.get("match_index", 0)
            version = (rs.max_version or 0) if rs is not None else st.get("max_log_version", 0)
            ms = reply.members.add(connected=connected or peer.id == s["id"], match_index=match,
                                   max_log_version=version)
            ms.member.CopyFrom(member_proto(peer))
            if s["role"] == "leader" and peer.id != s["id"]:
                ms.lag = max(s["last_index"] - match, 0)
        if ops is not None and not ops.voter:
            reply.replicas.append(member_proto(ops.membership.me, voter=False))
        return reply

    async def Topology(self, request, context):
        await self._login.user(context, secret_ok=True)
        s = self._service.status()
        reply = admin_pb2.TopologyReply(leader_id=s["leader_id"], term=s["term"])
        ops = self._ops
        advertised = ops.membership.advertised if ops is not None else (lambda peer: peer)
        for peer in await self._voters(s):
            reply.members.append(member_proto(advertised(peer)))
        if ops is not None and not ops.voter:
            reply.members.append(member_proto(advertised(ops.membership.me), voter=False))
        return reply

    # ------------------------------------------------------------ backups

    async def Backup(self, request, context):
        ops = await self._require_ops(context, "Backup")
        from raftcache.node.ops import backup

        work = tempfile.mkdtemp(prefix=".admin-backup-", dir=ops.data_dir or None)
        try:
            path = os.path.join(work, "backup" + backup.SUFFIX)
            try:
                meta = await asyncio.to_thread(
                    backup.build, ops.keyspace, path, cluster_id=ops.cluster_id, term=ops.replicator.term,
                    node_id=ops.membership.me.id, zone=ops.membership.me.zone)
                # Checked here, by the code that owns the format, as `ctl verify` would (the keyspace
                # image against its header, the items of large containers); the client checks the
                # transfer against the sha256 below.
                await asyncio.to_thread(backup.verify, path, deep=True)
            except RaftcacheError as e:
                await _abort(context, e)
            total = os.path.getsize(path)
            yield admin_pb2.BackupChunk(info=admin_pb2.BackupInfo(
                format_version=meta.format_version, cluster_id=meta.cluster_id,
                applied_index=meta.applied_index, term=meta.term, key_count=meta.key_count,
                total_bytes=total, node_id=meta.node_id, sha256=backup.file_sha256(path)))
            with open(path, "rb") as f:
                while True:
                    chunk = await asyncio.to_thread(f.read, backup.CHUNK_BYTES)
                    if not chunk:
                        break
                    yield admin_pb2.BackupChunk(data=chunk)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ------------------------------------------------------------ membership

    def _membership_reply(self, voters) -> admin_pb2.MembershipReply:
        reply = admin_pb2.MembershipReply(leader_id=self._service.leader_id or "")
        for peer in voters:
            reply.members.append(member_proto(peer))
        return reply

    async def AddNode(self, request, context):
        ops = await self._require_ops(context, "AddNode")
        try:
            voters = await ops.add_node(peer_from_member(request.member))
        except RaftcacheError as e:
            await _abort(context, e)
        return self._membership_reply(voters)

    async def RemoveNode(self, request, context):
        ops = await self._require_ops(context, "RemoveNode")
        try:
            voters = await ops.remove_node(request.id)
        except RaftcacheError as e:
            await _abort(context, e)
        return self._membership_reply(voters)

    async def Migrate(self, request, context):
        """One step of a slot move (node/service/resharding.py), on this shard's leader."""
        await self._require_ops(context, "Migrate")
        if self._service.cluster is None:
            await _abort(context, CommandError("this node is not in cluster mode", Reason.INVALID_ARGUMENT))
        try:
            return await resharding.run_step(self._service, request)
        except RaftcacheError as e:
            await _abort(context, e)

    async def TransferLeader(self, request, context):
        ops = await self._require_ops(context, "TransferLeader")
        try:
            leader = await ops.transfer_leader(request.to or None)
        except RaftcacheError as e:
            await _abort(context, e)
        return admin_pb2.TransferLeaderReply(leader_id=leader, term=ops.replicator.term)
