"""`raftcache ctl reshard / rebalance / shards`: the mover of hash slots between shards.

A move of slots R from shard S to shard T (docs/cluster-mode.md "Resharding")
is a sequence of steps, each one entry of S's or T's own log, run by that
shard's leader through Admin.Migrate (node/service/resharding.py)::

    T begin IMPORTING  ->  S begin MIGRATING  ->  repeat { S export (freeze, copy)
    -> T restore -> S drop }  until a full scan of S finds no key of R
    ->  repeat { S export_dedup -> T import_dedup }  (S's dedup table, page by page)
    ->  T finish (claims R at the move's epoch)  ->  S finish (gives R up)

The dedup table goes over once no key of R is left in S (no write of R can
be applied there any more), so a write applied in S and retried after the
flip finds its first outcome in T (docs/cluster-mode.md "Exactly once
across the move"); skipped when either log runs below version 13.

The mover keeps no state of its own: what is done is what the two logs say
(Admin.Status reports each shard's slots, epoch and move in progress), and
every step is idempotent, so a mover killed at any point and run again with
the same arguments resumes where the logs are. A step that fails because a
leader changed is sent again to the new leader (each shard's members are
tried in turn, up to STEP_DEADLINE_S).

The shards and their members come from --data-dir's cluster.json (its
"shards" list, as `raftcache up --shards` writes it) or, with --endpoint,
from the nodes named: each one's Status (its shard) and Topology (its
shard's members). Calls carry the cluster secret. Imports nothing from
raftcache.node or raftcache.client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import grpc

from raftcache import slots as slotmath
from raftcache.clustermap import ClusterMap, ClusterMapError
from raftcache.peers import Peer
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.proto import commands_pb2 as pb

SECRET_METADATA = "x-raftcache-secret"
#: How long one step is retried (leader changes, a shard without quorum for a while) before the mover stops.
STEP_DEADLINE_S = 60.0
#: Keys copied per batch.
BATCH_KEYS = 200
MIGRATING, IMPORTING = pb.BeginMigration.MIGRATING, pb.BeginMigration.IMPORTING
#: The log semantics version from which a move carries the dedup table (node/commands RESHARD_DEDUP_VERSION).
DEDUP_LOG_VERSION = 13


class ReshardError(Exception):
    """The move cannot go on; the text says why (running the command again resumes it)."""


def add_verbs(sub) -> None:
    p = sub.add_parser("reshard", help="cluster mode: move hash slots to a shard while clients keep going "
                       "(resumes a move that was interrupted)")
    p.add_argument("--slots", required=True, metavar="A-B[,C…]", help="the slots to move")
    p.add_argument("--to", required=True, type=int, metavar="SHARD", help="the shard that gets them")
    p.add_argument("--batch", type=int, default=BATCH_KEYS, help=f"keys per copied batch (default {BATCH_KEYS})")
    p = sub.add_parser("rebalance", help="cluster mode: move slots until every shard owns an even share")
    p.add_argument("--exclude", type=int, action="append", default=[], metavar="SHARD",
                   help="give this shard no slots (empty it before remove-shard); repeatable")
    p.add_argument("--batch", type=int, default=BATCH_KEYS, help=f"keys per copied batch (default {BATCH_KEYS})")
    sub.add_parser("shards", help="cluster mode: every shard's slots, epoch, leader and move in progress")
    p = sub.add_parser("add-shard", help="cluster mode: add a shard to --data-dir's cluster.json (next ports of "
                       "the `up` layout), start its nodes with --start, then rebalance onto it")
    p.add_argument("--nodes", type=int, default=3, help="members of the new shard (default 3)")
    p.add_argument("--start", action="store_true", help="start the new shard's node processes (detached; their "
                   "logs and data under --data-dir)")
    p.add_argument("--no-rebalance", action="store_true", help="only register (and start) the shard")
    p.add_argument("--batch", type=int, default=BATCH_KEYS, help=f"keys per copied batch (default {BATCH_KEYS})")
    p = sub.add_parser("remove-shard", help="cluster mode: remove the last shard from --data-dir's cluster.json "
                       "once it owns no slot (empty it first: rebalance --exclude SHARD)")
    p.add_argument("shard", type=int)
    p.add_argument("--stop", action="store_true", help="also stop its nodes (SIGTERM to the pids cluster.json records)")


VERBS = ("reshard", "rebalance", "shards", "add-shard", "remove-shard")


# ---------------------------------------------------------------- talking to the shards

class Shards:
    """Every shard's members (gRPC addresses) and one Admin stub per member."""

    def __init__(self, members: dict[int, list[str]], secret: str, timeout_s: float = 5.0):
        self.members = members
        self._metadata = ((SECRET_METADATA, secret),)
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.Channel] = {}
        self._leader: dict[int, str] = {}

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def _stub(self, address: str) -> admin_pb2_grpc.AdminStub:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.insecure_channel(address)
        return admin_pb2_grpc.AdminStub(channel)

    def _order(self, shard: int) -> list[str]:
        members = self.members[shard]
        leader = self._leader.get(shard)
        return ([leader] if leader in members else []) + [m for m in members if m != leader]

    def status(self, shard: int) -> admin_pb2.StatusReply:
        """The Status of the shard's leader (else of any member that answers)."""
        deadline = time.monotonic() + STEP_DEADLINE_S
        while True:
            any_reply = None
            for address in self._order(shard):
                try:
                    reply = self._stub(address).Status(admin_pb2.StatusRequest(), metadata=self._metadata,
                                                       timeout=self._timeout_s)
                except grpc.RpcError:
                    continue
                if reply.role == "leader":
                    self._leader[shard] = address
                    return reply
                any_reply = any_reply or reply
            if any_reply is not None and time.monotonic() > deadline - STEP_DEADLINE_S / 2:
                return any_reply   # no leader for a while: what a member knows
            if time.monotonic() > deadline:
                raise ReshardError(f"no member of shard {shard} answers ({', '.join(self.members[shard])})")
            time.sleep(0.2)

    def step(self, shard: int, **step) -> admin_pb2.MigrationReply:
        """Run one migration step on the shard's leader, retrying through leader changes."""
        request = admin_pb2.MigrationRequest(**step)
        deadline = time.monotonic() + STEP_DEADLINE_S
        last = ""
        while time.monotonic() < deadline:
            for address in self._order(shard):
                try:
                    reply = self._stub(address).Migrate(request, metadata=self._metadata,
                                                        timeout=max(self._timeout_s, 10.0))
                    self._leader[shard] = address
                    return reply
                except grpc.RpcError as e:
                    code, details = e.code(), e.details() or ""
                    last = f"{address}: {code.name} {details}"
                    if code == grpc.StatusCode.UNAUTHENTICATED:
                        raise ReshardError(f"shard {shard} refused the cluster secret: {details}") from None
                    if not _retryable(code, details):
                        raise ReshardError(f"shard {shard} refused the step: {details}") from None
            time.sleep(0.2)
        raise ReshardError(f"shard {shard} did not run a step within {STEP_DEADLINE_S:.0f}s (last: {last})")


def _retryable(code: grpc.StatusCode, details: str) -> bool:
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return True
    return code == grpc.StatusCode.FAILED_PRECONDITION and "leader" in details


# ---------------------------------------------------------------- the map

def _ranges(message) -> list[tuple[int, int]]:
    return slotmath.normalise((r.first, r.last) for r in message)


def _slot_set(ranges) -> set[int]:
    return {s for a, b in ranges for s in range(a, b + 1)}


def _runs(slots) -> list[tuple[int, int]]:
    return slotmath.normalise((s, s) for s in sorted(slots))


class Cluster:
    """What the shards' logs say now: each shard's claim (epoch, slots) and its move in progress."""

    def __init__(self, shards: Shards):
        self.shards = shards
        self.status = {s: shards.status(s) for s in sorted(shards.members)}

    def refresh(self, *which: int) -> None:
        for s in which or sorted(self.shards.members):
            self.status[s] = self.shards.status(s)

    def epoch(self, shard: int) -> int:
        return self.status[shard].shard.epoch

    def claimed(self, shard: int) -> set[int]:
        return _slot_set(_ranges(self.status[shard].shard.slots))

    def migration(self, shard: int) -> pb.BeginMigration:
        return self.status[shard].shard.migration

    def owners(self) -> list[int]:
        """slot -> owning shard: per slot the claim of the highest epoch (as every node merges them)."""
        owner, epochs = [0] * slotmath.SLOTS, [-1] * slotmath.SLOTS
        for shard in sorted(self.status):
            epoch = self.epoch(shard)
            for slot in self.claimed(shard):
                if epoch > epochs[slot]:
                    owner[slot], epochs[slot] = shard, epoch
        return owner


# ---------------------------------------------------------------- one move

def move(cluster: Cluster, source: int, target: int, ranges: list[tuple[int, int]], batch: int,
         say=print) -> int:
    """Move `ranges` (all owned by `source`, or already being moved by it to `target`) to `target`;
    returns the number of keys copied. Resumes a move the logs record as begun."""
    shards = cluster.shards
    cluster.refresh(source, target)
    wanted = pb.BeginMigration(ranges=[pb.SlotRange(first=a, last=b) for a, b in ranges])
    ms, mt = cluster.migration(source), cluster.migration(target)
    if ms.role == MIGRATING and (ms.peer != target or _ranges(ms.ranges) != ranges):
        raise ReshardError(f"shard {source} is moving slots {slotmath.format_ranges(_ranges(ms.ranges))} to shard "
                           f"{ms.peer}: run that reshard again to finish it first")
    if mt.role != pb.BeginMigration.NONE and (mt.role != IMPORTING or mt.peer != source
                                               or _ranges(mt.ranges) != ranges):
        raise ReshardError(f"shard {target} has another move in progress")
    if ms.role == MIGRATING:
        epoch = ms.epoch
    elif mt.role == IMPORTING:
        epoch = mt.epoch
    else:
        cluster.refresh()
        epoch = max(cluster.epoch(s) for s in cluster.status) + 1
    text = f"slots {slotmath.format_ranges(ranges)} from shard {source} to shard {target} (epoch {epoch})"
    target_done = cluster.epoch(target) >= epoch and _slot_set(ranges) <= cluster.claimed(target)
    if not target_done:
        shards.step(target, begin=pb.BeginMigration(role=IMPORTING, peer=source, epoch=epoch, ranges=wanted.ranges))
    shards.step(source, begin=pb.BeginMigration(role=MIGRATING, peer=target, epoch=epoch, ranges=wanted.ranges))
    say(f"moving {text}")
    copied = 0
    if not target_done:
        copied = _copy(shards, source, target, batch)
        if min(cluster.status[source].log_version, cluster.status[target].log_version) >= DEDUP_LOG_VERSION:
            _copy_dedup(shards, source, target)
        shards.step(target, finish=pb.FinishMigration(epoch=epoch))
    shards.step(source, finish=pb.FinishMigration(epoch=epoch))
    cluster.refresh(source, target)
    say(f"moved {text}: {copied} keys copied")
    return copied


def _copy(shards: Shards, source: int, target: int, batch: int) -> int:
    """Copy batches until a whole scan of the source finds no key of the moving slots."""
    copied, cursor, found = 0, 0, False
    while True:
        reply = shards.step(source, export=admin_pb2.ExportKeys(cursor=cursor, count=batch))
        if reply.keys:
            shards.step(target, restore=pb.RestoreKeys(keys=reply.keys))
            shards.step(source, drop=pb.DropMigrated(keys=[k.key for k in reply.keys]))
            copied += sum(1 for k in reply.keys if k.expire_at_ms >= 0)
            found = True
        cursor = reply.cursor
        if cursor == 0 and not reply.keys:
            if not found:
                return copied
            found = False   # keys were moved during this pass: one more, to see none is left


def _copy_dedup(shards: Shards, source: int, target: int) -> None:
    """Merge the source's whole dedup table into the target's, a page at a time."""
    after = ""
    while True:
        reply = shards.step(source, export_dedup=pb.ExportDedup(after=after))
        if reply.dedup:
            shards.step(target, import_dedup=pb.ImportDedup(entries=reply.dedup))
        after = reply.dedup_after
        if not after:
            return


def reshard(cluster: Cluster, ranges: list[tuple[int, int]], to: int, batch: int, say=print) -> int:
    """Move every slot of `ranges` to shard `to`, one source shard at a time; first finishes any
    move the logs record as begun for these slots."""
    if to not in cluster.status:
        raise ReshardError(f"there is no shard {to} (shards: {', '.join(map(str, sorted(cluster.status)))})")
    wanted = _slot_set(ranges)
    copied = 0
    for shard in sorted(cluster.status):   # moves interrupted earlier, of these slots
        m = cluster.migration(shard)
        if m.role == MIGRATING and m.peer == to and _slot_set(_ranges(m.ranges)) <= wanted:
            copied += move(cluster, shard, to, _ranges(m.ranges), batch, say)
    owners = cluster.owners()
    by_source: dict[int, set[int]] = {}
    for slot in wanted:
        if owners[slot] != to:
            by_source.setdefault(owners[slot], set()).add(slot)
    if 0 in by_source:
        raise ReshardError(f"slots {slotmath.format_ranges(_runs(by_source[0]))} have no owner")
    for source, slots in sorted(by_source.items()):
        copied += move(cluster, source, to, _runs(slots), batch, say)
    if not by_source and not copied:
        say(f"slots {slotmath.format_ranges(ranges)} are on shard {to} already")
    return copied


def plan_rebalance(owners: list[int], shards: list[int], exclude=()) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """(source, target, ranges) moves that leave every shard not excluded with an even share
    (16384 // S, the first ones one more), moving as few slots as can be: each shard over its
    share gives its highest slots to the shards under theirs."""
    keep = [s for s in shards if s not in exclude]
    if not keep:
        raise ReshardError("rebalance needs at least one shard that is not excluded")
    share = {s: slotmath.SLOTS // len(keep) + (1 if i < slotmath.SLOTS % len(keep) else 0)
             for i, s in enumerate(keep)}
    held: dict[int, list[int]] = {s: [] for s in shards}
    for slot, owner in enumerate(owners):
        if owner in held:
            held[owner].append(slot)
    spare = []   # slots to give away, from the shards over their share (their highest first)
    for s in shards:
        over = len(held[s]) - share.get(s, 0)
        if over > 0:
            spare += [(s, slot) for slot in held[s][-over:]]
    moves = []
    for t in keep:
        need = share[t] - len(held[t])
        if need <= 0:
            continue
        taken, spare = spare[:need], spare[need:]
        for source in sorted({s for s, _ in taken}):
            moves.append((source, t, _runs(slot for s, slot in taken if s == source)))
    return moves


# ---------------------------------------------------------------- the command line

def _members_from_map(path: str) -> dict[int, list[str]]:
    try:
        cmap = ClusterMap.load(path)
    except ClusterMapError as e:
        raise ReshardError(str(e)) from None
    return {s.id: [s.client_peer(p).address("grpc") for p in s.members] for s in cmap.shards}


def _members_from_endpoints(endpoints: list[str], secret: str, timeout_s: float) -> dict[int, list[str]]:
    members: dict[int, list[str]] = {}
    metadata = ((SECRET_METADATA, secret),)
    for address in endpoints:
        with grpc.insecure_channel(address) as channel:
            stub = admin_pb2_grpc.AdminStub(channel)
            try:
                status = stub.Status(admin_pb2.StatusRequest(), metadata=metadata, timeout=timeout_s)
                topology = stub.Topology(admin_pb2.TopologyRequest(), metadata=metadata, timeout=timeout_s)
            except grpc.RpcError as e:
                raise ReshardError(f"{address}: {e.code().name} {e.details()}") from None
        if not status.HasField("shard"):
            raise ReshardError(f"{address} is not in cluster mode")
        found = members.setdefault(status.shard.shard, [])
        found += [m.grpc_address for m in topology.members if m.voter and m.grpc_address not in found]
    return members


def members(args) -> dict[int, list[str]]:
    """Every shard's members: --endpoint's shards (each node names its shard's members), else cluster.json."""
    from raftcache import ctl

    given = [e.strip() for value in (getattr(args, "endpoint", None) or []) for e in value.split(",") if e.strip()]
    if given:
        return _members_from_endpoints(given, ctl.cluster_secret(args), args.timeout)
    if not args.data_dir:
        raise ReshardError(f"{args.verb} needs the cluster: --data-dir DIR (its cluster.json) or --endpoint "
                           "HOST:PORT of a node of every shard")
    path = os.path.join(args.data_dir, "cluster.json")
    if not os.path.exists(path):
        raise ReshardError(f"{path} does not exist: is --data-dir the directory `raftcache up --shards` was given?")
    return _members_from_map(path)


def _print_shards(cluster: Cluster) -> None:
    owners = cluster.owners()
    for shard in sorted(cluster.status):
        st = cluster.status[shard]
        mine = _runs(s for s, o in enumerate(owners) if o == shard)
        line = (f"shard {shard}: {slotmath.count(mine)} slots {slotmath.format_ranges(mine) or '-'}, epoch "
                f"{st.shard.epoch}, leader {st.leader_id or '?'}")
        m = st.shard.migration
        if m.role != pb.BeginMigration.NONE:
            verb = "migrating to" if m.role == MIGRATING else "importing from"
            line += f"; {verb} shard {m.peer}: {slotmath.format_ranges(_ranges(m.ranges))} (epoch {m.epoch})"
        print(line)


# ---------------------------------------------------------------- adding and removing shards

def _load_doc(data_dir: str) -> tuple[str, dict]:
    path = os.path.join(data_dir or "", "cluster.json")
    try:
        with open(path) as f:
            doc = json.load(f)
        ClusterMap.from_json(doc.get("shards"))
    except (OSError, ValueError, ClusterMapError) as e:
        raise ReshardError(f"add-shard and remove-shard need --data-dir of `raftcache up --shards`: {path}: {e}") \
            from None
    return path, doc


def _save_doc(path: str, doc: dict) -> None:
    ClusterMap.from_json(doc["shards"])   # never write a map the nodes would refuse
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def add_shard(data_dir: str, nodes: int, start: bool, secret: str) -> tuple[int, list[str]]:
    """Register a shard with no slots in DATA_DIR/cluster.json, its members at the next ports of the
    `up` layout (ids s{K}n{i}, zones a, b, c …); with `start`, start them. Returns (shard, grpc addresses)."""
    path, doc = _load_doc(data_dir)
    cmap = ClusterMap.from_json(doc["shards"])
    shard = max(s.id for s in cmap.shards) + 1
    last = max((p for s in cmap.shards for p in s.members), key=lambda p: p.base_port)
    fresh = ClusterMap.layout(1, nodes, last.host, last.base_port + 10).shards[0]
    members = [Peer(f"s{shard}n{i + 1}", p.zone, p.host, p.base_port) for i, p in enumerate(fresh.members)]
    doc["shards"].append({"id": shard, "slots": "", "members": [p.spec() for p in members]})
    records = []
    for peer in members:
        node_dir = os.path.join(os.path.abspath(data_dir), peer.id)
        argv = [sys.executable, "-m", "raftcache", "node", "--id", peer.id, "--zone", peer.zone, "--host", peer.host,
                "--base-port", str(peer.base_port), "--peers", ",".join(p.spec() for p in members),
                "--data-dir", node_dir, "--shard", str(shard), "--cluster-map", os.path.abspath(path)]
        records.append({"id": peer.id, "zone": peer.zone, "pid": None, "data_dir": node_dir, "shard": shard,
                        **{kind: peer.address(kind) for kind in ("grpc", "redis", "memcached", "raft", "http")},
                        "argv": argv})
    doc["nodes"] = doc.get("nodes", []) + records
    _save_doc(path, doc)   # before the nodes start: they read their shard from it
    for record in records:
        if start:
            os.makedirs(record["data_dir"], exist_ok=True)
            with open(os.path.join(os.path.dirname(record["data_dir"]), f"{record['id']}.log"), "ab") as log:
                proc = subprocess.Popen(record["argv"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env=dict(os.environ, RAFTCACHE_CLUSTER_SECRET=secret, PYTHONUNBUFFERED="1"))
            record["pid"] = proc.pid
        else:
            print("start: RAFTCACHE_CLUSTER_SECRET=… " + " ".join(record["argv"]))
    if start:
        _save_doc(path, doc)
    return shard, [p.address("grpc") for p in members]


def _wait_ready(shards: Shards, shard: int, timeout_s: float = 120.0) -> None:
    """Until the shard has a leader and its log records its (empty) claim."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = shards.status(shard)
            if status.role == "leader" and status.shard.epoch >= 1:
                return
        except ReshardError:
            pass
        time.sleep(0.5)
    raise ReshardError(f"shard {shard} has no leader with its slots recorded after {timeout_s:.0f}s")


def remove_shard(cluster: Cluster, data_dir: str, shard: int, stop: bool) -> None:
    path, doc = _load_doc(data_dir)
    ids = [s["id"] for s in doc["shards"]]
    if shard not in ids:
        raise ReshardError(f"there is no shard {shard}")
    if shard != max(ids):
        raise ReshardError(f"only the last shard ({max(ids)}) can be removed: shards are numbered 1..S")
    owned = sum(1 for owner in cluster.owners() if owner == shard)
    if owned or cluster.migration(shard).role != pb.BeginMigration.NONE:
        raise ReshardError(f"shard {shard} owns {owned} slots (or is moving some): empty it first with "
                           f"`ctl rebalance --exclude {shard}` (or reshard its slots elsewhere)")
    doc["shards"] = [s for s in doc["shards"] if s["id"] != shard]
    gone = [n for n in doc.get("nodes", []) if n.get("shard") == shard]
    doc["nodes"] = [n for n in doc.get("nodes", []) if n.get("shard") != shard]
    _save_doc(path, doc)
    for node in gone:
        if stop and node.get("pid"):
            try:
                os.kill(int(node["pid"]), signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    print(f"removed shard {shard}" + ("; its nodes were sent SIGTERM" if stop else "; its nodes may be stopped"))


def run(args) -> int:
    from raftcache import ctl

    try:
        secret = ctl.cluster_secret(args)
        if args.verb == "add-shard":
            if args.nodes < 1:
                raise ReshardError("--nodes must be at least 1")
            shard, addresses = add_shard(args.data_dir, args.nodes, args.start, secret)
            print(f"added shard {shard} ({', '.join(addresses)}) with no slots")
        shards = Shards(members(args), secret, args.timeout)
        try:
            if args.verb == "add-shard":
                if not args.start and args.no_rebalance:
                    return 0
                _wait_ready(shards, shard)
            cluster = Cluster(shards)
            if args.verb == "remove-shard":
                remove_shard(cluster, args.data_dir, args.shard, args.stop)
            elif args.verb == "add-shard" and args.no_rebalance:
                pass
            elif args.verb == "shards":
                _print_shards(cluster)
            elif args.verb == "reshard":
                try:
                    ranges = slotmath.parse_ranges(args.slots)
                except ValueError as e:
                    raise ReshardError(str(e)) from None
                reshard(cluster, ranges, args.to, max(1, args.batch))
            else:
                moves = plan_rebalance(cluster.owners(), sorted(cluster.status), set(getattr(args, "exclude", ())))
                for source, target, ranges in moves:
                    move(cluster, source, target, ranges, max(1, args.batch))
                if not moves:
                    print("the slots are balanced already")
        finally:
            shards.close()
    except (ReshardError, ctl.RaftcacheError) as e:
        print(f"raftcache: error: {getattr(e, 'message', None) or e}", file=sys.stderr)
        return 1
    return 0

