"""The gRPC Admin service: status, topology (and the operator verbs).

Reads the node's state through Service.status(); no business logic here.
"""

from __future__ import annotations

from raftcache import __version__
from raftcache.proto import admin_pb2, admin_pb2_grpc


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


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, service: Service):
        self._service = service

    async def Status(self, request, context):
        s = self._service.status()
        reply = admin_pb2.StatusReply(
            id=s["id"],
            zone=s["zone"],
            role=s["role"],
            leader_id=s["leader_id"],
            term=s["term"],
            commit_index=s["commit_index"],
            applied_index=s["applied_index"],
            last_index=s["last_index"],
            keys=s["keys"],
            used_bytes=s["used_bytes"],
            maxmemory_bytes=s["maxmemory_bytes"],
            last_leader_contact_s=s["last_leader_contact_s"],
            appendfsync=s["appendfsync"],
            version=__version__,
        )
        for m in s["members"]:
            ms = reply.members.add(connected=m["connected"], match_index=m["match_index"])
            ms.member.CopyFrom(member_proto(m["peer"]))
            if s["role"] == "leader" and m["id"] != s["id"]:
                ms.lag = max(s["last_index"] - m["match_index"], 0)
        return reply

    async def Topology(self, request, context):
        s = self._service.status()
        reply = admin_pb2.TopologyReply(leader_id=s["leader_id"], term=s["term"])
        for m in s["members"]:
            reply.members.append(member_proto(m["peer"]))
        return reply
