"""Every configuration parameter of a node, declared once: the table PARAMS.

A row says what a parameter is and everything derived from it:

- `field`: where it lives in NodeConfig (`"id"`, `"keyspace.maxmemory_bytes"`);
  node/config/parts.py builds NodeConfig's frozen dataclasses from these rows,
  with `default` as the field's default and its type.
- `key`: set at start by the flag `--KEY` (dashes for underscores, with `help`,
  `metavar`, `choices`), the variable `RAFTCACHE_KEY` and the TOML key `KEY`
  (unless `toml=False`), in that precedence, then `default`
  (node/config/sources.py). `parse` turns what was given into the field's value
  (by default: the default's type; a bool is a switch, values.parse_flag);
  `error` is the message when it cannot.
- `config`: its CONFIG GET/SET name and `kind` (node/config/settings.py):
  `cluster` (replicated through the log, with an effect: `check` normalises a
  value or refuses it), `tuning` (Redis's knobs that mean nothing here:
  replicated, reported back, no effect), `fixed` (the node's configuration;
  CONFIG SET refuses a different value) or `node` (this node's own diagnostics:
  CONFIG SET changes it on the node it is sent to, nothing is replicated). `show` spells the field's value as
  CONFIG GET reports it before any CONFIG SET.

A parameter with no field is read by the loader itself (`config`, `data_dir`)
or exists only for CONFIG (its default is that text). Value syntaxes are in
node/config/values.py. tests/unit/test_config.py checks that every field,
key, variable and CONFIG name is declared once, and that `raftcache node
--help` lists every flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from raftcache.node.config import values as v

KINDS = ("cluster", "tuning", "fixed", "node")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Param:
    """One parameter (see the module docstring)."""

    default: object
    field: str = ""
    key: str = ""
    help: str = ""
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    toml: bool = True
    parse: Callable[[object], object] | None = None
    error: str = ""
    config: str = ""
    kind: str = ""
    check: Callable[[str], str] = v.any_text
    show: Callable[[object], str] = str

    @property
    def part(self) -> str:
        """The NodeConfig part holding the field ("" = NodeConfig itself)."""
        return self.field.rpartition(".")[0]

    @property
    def attr(self) -> str:
        return self.field.rpartition(".")[2]

    @property
    def flag(self) -> str:
        return f"--{self.key.replace('_', '-')}" if self.key else ""

    @property
    def env(self) -> str:
        return f"RAFTCACHE_{self.key.upper()}" if self.key else ""

    @property
    def type(self) -> type:
        return type(self.default)

    def value_of(self, given: object) -> object:
        """A value from a flag, the environment or TOML as the field holds it."""
        parse = self.parse or (v.parse_flag if self.type is bool else self.type)
        return parse(given)


def _tuning(defaults: dict[str, str]) -> tuple[Param, ...]:
    return tuple(Param(config=name, kind="tuning", default=value) for name, value in defaults.items())


_INTEGERS = "base_port, databases and max_log_version must be integers"
_BACKUP_NUMBERS = "backup_interval must be a number of seconds and backup_keep an integer"

PARAMS: tuple[Param, ...] = (
    # ---- Set at start, in `raftcache node --help` order.
    Param(key="config", toml=False, default="", metavar="FILE",
          help="TOML file with the same keys as the flags (dashes as underscores)"),
    Param(key="id", field="id", default="n1", help="node id (default n1)"),
    Param(key="zone", field="zone", default="a", help="availability zone label (default a)"),
    Param(key="host", field="host", default="127.0.0.1", config="bind", kind="fixed",
          help="address to bind and advertise (default 127.0.0.1)"),
    Param(key="base_port", field="base_port", default=7000, error=_INTEGERS,
          config="port", kind="fixed", show=lambda base: str(base + v.PORT_OFFSETS["redis"]),
          help="gRPC port; Redis +1, memcached +2, Raft +3, HTTP +4 (default 7000)"),
    Param(key="advertise", field="advertise", default="", metavar="HOST:BASEPORT",
          help="where clients outside the nodes' network reach this node (its ports follow BASEPORT); "
          "the topology the SDK reads lists it (default: --host and --base-port)"),
    Param(key="peers", field="peers", default=(), parse=v.parse_peers,
          help="every member, this node included: ID@ZONE=HOST:BASEPORT,..."),
    Param(key="data_dir", default="data", parse=v.absolute_path,
          help="directory for the log, snapshots and keyspace (default ./data)"),
    Param(key="cluster_secret", field="replication.cluster_secret", default="",
          help="shared secret of the Raft and forwarding ports (prefer RAFTCACHE_CLUSTER_SECRET)"),
    Param(key="appendfsync", field="replication.appendfsync", default="everysec", choices=v.FSYNC_POLICIES,
          config="appendfsync", kind="fixed", help="log fsync policy (default everysec)"),
    Param(key="maxmemory", field="keyspace.maxmemory_bytes", default=1 << 30, parse=v.parse_size,
          config="maxmemory", kind="cluster", check=v.memory_at_least(0),
          help="keyspace size past which writes evict (or are refused: noeviction), e.g. 512mb, 2gb "
          "(default 1gb)"),
    Param(key="maxmemory_policy", field="service.maxmemory_policy", default="volatile-lru", metavar="POLICY",
          choices=v.EVICTION_POLICIES, config="maxmemory-policy", kind="cluster", check=v.eviction_policy,
          help="what a full keyspace does until CONFIG SET maxmemory-policy (default volatile-lru, "
          "ElastiCache's; docs/eviction.md)"),
    Param(key="databases", field="keyspace.databases", default=16, error=_INTEGERS,
          config="databases", kind="fixed", help="number of databases (default 16)"),
    Param(key="default_read", field="service.default_read", default="linearizable", metavar="LEVEL",
          config="raftcache-default-read", kind="cluster", check=v.default_read_level, show=v.default_read_level,
          help="read level when a request names none: linearizable (default), lease, bounded:<ms>, any"),
    Param(key="redis_password", field="frontend.redis_password", default="", config="requirepass", kind="cluster",
          show=v.requirepass_text,
          help="the default user's password on every port until the cluster changes it (CONFIG SET requirepass, "
          "ACL SETUSER default); prefer RAFTCACHE_REDIS_PASSWORD (default none)"),
    Param(key="aclfile", field="frontend.aclfile", default="", metavar="FILE", parse=v.absolute_path_or_none,
          help="ACL file in Redis's format: seeds a new cluster's users; ACL LOAD reads it, ACL SAVE writes it "
          "(docs/security.md)"),
    Param(key="memcached_auth", field="frontend.memcached_auth", default="yes", choices=v.YES_NO,
          help="memcached's text-protocol authentication when a password is needed (default yes; no: the port "
          "serves everyone as the default user)"),
    Param(key="http_auth", field="frontend.http_auth", default="no", choices=v.YES_NO,
          help="/metrics and /status need credentials (HTTP Basic, an ACL user) when a password is needed "
          "(default no; /health never does)"),
    # TLS of every client port, with Redis's names (node/service/tls.py, docs/security.md)
    Param(key="tls_cert_file", field="tls.cert_file", default="", metavar="FILE", parse=v.absolute_path_or_none,
          help="the node's certificate (PEM): every client port (gRPC, Redis, memcached, HTTP) then speaks TLS "
          "only; reloaded when it changes"),
    Param(key="tls_key_file", field="tls.key_file", default="", metavar="FILE", parse=v.absolute_path_or_none,
          help="its private key (PEM)"),
    Param(key="tls_ca_cert_file", field="tls.ca_cert_file", default="", metavar="FILE",
          parse=v.absolute_path_or_none, help="CA certificates for client and peer certificates"),
    Param(key="tls_ca_cert_dir", field="tls.ca_cert_dir", default="", metavar="DIR", parse=v.absolute_path_or_none,
          help="a directory of CA certificates (OpenSSL c_rehash)"),
    Param(key="tls_auth_clients", field="tls.auth_clients", default="yes", choices=v.TLS_AUTH_CLIENTS,
          help="client certificates: required (yes, the default, as Redis), no, or optional"),
    Param(key="tls_auth_clients_user", field="tls.auth_clients_user", default="off", metavar="CN|off",
          parse=v.tls_auth_clients_user,
          help="CN: a verified client certificate's Common Name is the ACL user it logs in as"),
    Param(key="tls_protocols", field="tls.protocols", default="", metavar="PROTOCOLS",
          help='e.g. "TLSv1.2 TLSv1.3" (default: 1.2 and newer)'),
    Param(key="tls_ciphers", field="tls.ciphers", default="", metavar="LIST", help="TLS 1.2 ciphers (OpenSSL syntax)"),
    Param(key="tls_ciphersuites", field="tls.ciphersuites", default="", metavar="SUITES", parse=v.tls_ciphersuites,
          help="TLS 1.3 cipher suites, colon-separated (e.g. TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256)"),
    Param(key="tls_replication", field="tls.replication", default="yes", choices=v.YES_NO,
          help="with TLS, the Raft port speaks mutual TLS too (default yes; peers' certificates checked against "
          "the CA), in addition to the cluster secret"),
    Param(key="tls_plaintext_port_offset", field="tls.plaintext_port_offset", default=0, metavar="N",
          parse=v.plaintext_port_offset,
          help="with TLS, also serve plaintext clients on each client port + N (Redis's port beside tls-port, "
          "to migrate clients; default 0: TLS only)"),
    Param(key="tls_prefer_server_ciphers", field="tls.prefer_server_ciphers", default="no", choices=v.YES_NO,
          help="the server's cipher order wins"),
    Param(key="memcached_item_size_max", field="frontend.memcached_item_size_max_bytes", default=1 << 20,
          parse=v.parse_size, metavar="SIZE",
          help="largest memcached item, as memcached's -I (default 1mb; at most the value limit)"),
    Param(key="memcached_disable_evictions", field="frontend.memcached_disable_evictions", default=False,
          help="as memcached's -M: a full cache answers memcached sets with an error instead of evicting "
          "the least recently used items"),
    Param(key="role", field="role", default="voter", choices=v.ROLES,
          help="voter (default), or replica: a non-voting read replica of the --peers voters"),
    Param(key="restore", field="restore", default="", metavar="FILE", parse=v.absolute_path_or_none,
          help="seed this node from a backup before its first start (an empty data dir; "
          "every node of the new cluster gets the same file)"),
    Param(key="backup_key", field="backup_key", default="", metavar="KEYFILE", parse=v.absolute_path_or_none,
          help="the key of an encrypted --restore backup (docs/security.md)"),
    Param(key="join", field="join", default=False,
          help="this node is being added to a running cluster (ctl add-node): it waits for the "
          "leader instead of standing for election while its log is empty"),
    Param(key="backup_dir", field="backup.dir", default="", metavar="DIR", parse=v.absolute_path_or_none,
          help="write automatic snapshots here (default: none)"),
    Param(key="backup_interval", field="backup.interval_s", default=3600.0, metavar="SECONDS", error=_BACKUP_NUMBERS,
          help="seconds between automatic snapshots (default 3600)"),
    Param(key="backup_keep", field="backup.keep", default=24, metavar="N", error=_BACKUP_NUMBERS,
          help="automatic snapshots kept (default 24)"),
    Param(key="max_log_version", field="replication.max_log_version", default=0, metavar="N", error=_INTEGERS,
          help="newest log semantics version this node accepts (default: all its binary supports); "
          "holding every node at the old version keeps a rolling upgrade reversible (docs/operations.md)"),
    Param(key="shard", field="shard", default=0, metavar="K", error="shard must be an integer",
          help="cluster mode: this node's shard, 1..S (default 0: not sharded; docs/cluster-mode.md)"),
    Param(key="cluster_map", field="cluster_map", default="", metavar="FILE", parse=v.absolute_path_or_none,
          help="cluster mode: JSON file whose \"shards\" list gives every shard's members and initial slots "
          "(raftcache up writes it into DATA_DIR/cluster.json)"),
    Param(key="log_level", field="log_level", default="INFO", toml=False, help="DEBUG, INFO (default), WARNING"),
    Param(key="log_format", field="log_format", default="text", choices=("text", "json"), toml=False,
          help="log lines on stderr: text (default) or json, one event per line with the node id, term and "
          "index (docs/diagnostics.md)"),

    # ---- Fixed in code (tests and benchmarks construct the parts with other values), by part.
    Param(field="keyspace.path", default="data/keyspace", help="directory of the LMDB environment (DATA_DIR/keyspace)"),
    Param(field="keyspace.max_key_bytes", default=500,
          help=f"longest key accepted; at most {v.MAX_KEY_BYTES_LIMIT} (LMDB keys are <= 511 bytes with our prefixes)"),
    Param(field="keyspace.max_value_bytes", default=64 << 20, config="proto-max-bulk-len", kind="cluster",
          check=v.bulk_len, help="longest value accepted (Redis's proto-max-bulk-len; Redis: 512 MiB)"),
    Param(field="keyspace.map_size_bytes", default=0,
          help="LMDB map size; 0 = derived from maxmemory so the map never fills first"),
    Param(field="replication.data_dir", default="data", config="dir", kind="fixed", show=v.absolute_path,
          help="journal (the AOF), its .meta, and snapshots (DATA_DIR/raft)"),
    Param(field="replication.heartbeat_s", default=0.05, help="leader's append-entries period when idle"),
    Param(field="replication.tick_s", default=0.02, help="longest the Raft thread sleeps with nothing to do"),
    Param(field="replication.raft_on_loop", default=True,
          help="the node's event loop runs the Raft ticks (one thread; node/raft/loop_driver.py), "
          "not a PySyncObj tick thread"),
    Param(field="replication.election_timeout_min_s", default=0.6, help="Raft election timeout range: lower end"),
    Param(field="replication.election_timeout_max_s", default=1.2, help="Raft election timeout range: upper end"),
    Param(field="replication.lease_drift", default=0.1,
          help="share of election_timeout_min_s a lease gives up to bound clock-rate drift"),
    Param(field="replication.connection_retry_s", default=0.5, help="how soon a lost peer connection is retried"),
    Param(field="replication.leader_fallback_s", default=2.0,
          help="a leader without majority contact this long steps down"),
    Param(field="replication.compaction_min_entries", default=50_000,
          help="compact the log when it holds more entries than this…"),
    Param(field="replication.compaction_min_s", default=600.0, help="…or this long after the last compaction"),
    Param(field="replication.proposal_timeout_s", default=5.0,
          help="a proposal not committed by then fails with TIMEOUT"),
    # Raft port limits (node/raft/peer_guard.py, node/raft/raft_wire.py; docs/operations.md "Raft port limits")
    Param(field="replication.peer_first_frame_max_bytes", default=4096,
          help="a connection's first message, before it authenticated"),
    Param(field="replication.peer_frame_max_bytes", default=32 << 20,
          help="any later message (a node sends <= ~1.1 MiB)"),
    Param(field="replication.peer_max_connections", default=32,
          help="incoming Raft connections; excess closed at accept"),
    Param(field="replication.peer_max_pending", default=16, help="of which not yet authenticated and identified"),
    Param(field="replication.peer_auth_timeout_s", default=5.0,
          help="a pending connection is closed after this long"),
    Param(field="service.request_timeout_s", default=5.0,
          help="total time a request may wait for a leader, commit or read index"),
    Param(field="service.expiry_interval_s", default=0.1, help="how often the leader looks for expired keys"),
    Param(field="service.expiry_batch", default=200, help="most keys deleted by one active-expiry proposal"),
    Param(field="frontend.max_connections", default=10_000, config="maxclients", kind="cluster",
          check=v.positive_int, help="Redis-port connection limit"),
    Param(field="tls.reload_interval_s", default=2.0,
          help="how often the TLS files are checked; a changed one is loaded (no restart)"),

    # ---- CONFIG only: the node's value before any CONFIG SET.
    Param(config="timeout", kind="cluster", default="0", check=v.non_negative_int,
          help="idle Redis clients are closed after this many seconds (0 = never)"),
    Param(config="acllog-max-len", kind="cluster", default="128", check=v.non_negative_int,
          help="entries kept in each node's ACL LOG"),
    # Eviction (node/service/evictor.py, node/service/access.py); Redis's defaults.
    Param(config="maxmemory-samples", kind="cluster", default="5", check=v.int_within(1, 64),
          help="keys sampled per pick where eviction samples"),
    Param(config="lfu-log-factor", kind="cluster", default="10", check=v.int_within(0, 2**31 - 1),
          help="how slowly the LFU counter grows"),
    Param(config="lfu-decay-time", kind="cluster", default="1", check=v.int_within(0, 2**31 - 1),
          help="minutes per step the LFU counter decays (0: never)"),
    Param(config="notify-keyspace-events", kind="cluster", default="", check=v.notify_keyspace_events,
          help="keyspace notifications (Redis's class letters; empty: off)"),
    # The client buffer limits (node/frontends/client_limits.py applies them).
    Param(config="client-query-buffer-limit", kind="cluster", default=str(1 << 30), check=v.query_buffer_limit,
          help="Redis's 1gb, capped at use by proto-max-bulk-len"),
    Param(config="client-output-buffer-limit", kind="cluster", check=v.output_limits,
          default="normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    Param(config="maxmemory-clients", kind="cluster", default="25%", check=v.maxmemory_clients,
          help="of maxmemory; Redis's default is 0 (off)"),
    # Decided at apply, the same on every replica (ctx.settings): layouts Redis tunes with them.
    Param(config="hll-sparse-max-bytes", kind="cluster", default="3000", check=v.memory_at_least(0),
          help="largest sparse HyperLogLog, in bytes (Redis's)"),
    Param(config="stream-node-max-entries", kind="cluster", default="100", check=v.non_negative_int,
          help="entries per stream node: what approximate trimming (~) removes at once"),
    # This node's diagnostics (node/service/diagnostics.py): node-local, as each Redis server's own.
    Param(config="slowlog-log-slower-than", kind="node", default="10000", check=v.any_int,
          help="commands taking at least this many microseconds enter SLOWLOG (negative: none; 0: all)"),
    Param(config="slowlog-max-len", kind="node", default="128", check=v.int_within(0, 100_000),
          help="entries SLOWLOG keeps (at most 100000: an entry may hold ~5 KB; Redis has no cap)"),
    Param(config="latency-monitor-threshold", kind="node", default="0", check=v.non_negative_int,
          help="latency events of at least this many milliseconds are recorded (LATENCY; 0: off)"),
    Param(config="latency-tracking", kind="node", default="yes", check=v.yes_no,
          help="per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM)"),
    Param(config="latency-tracking-info-percentiles", kind="node", default="50 99 99.9", check=v.percentiles,
          help="the percentiles INFO latencystats reports"),
    # Client-side caching (node/service/tracking.py): node-local, as each Redis server's own table.
    Param(config="tracking-table-max-keys", kind="node", default="1000000", check=v.non_negative_int,
          help="keys the tracking table remembers for default-mode clients (0: no limit); past it keys "
               "are invalidated early"),
    # Scripts (node/scripting/budget.py): the instruction budget, 2,000 Lua instructions per ms.
    Param(config="busy-reply-threshold", kind="cluster", default="5000", check=v.non_negative_int,
          help="a script's budget, in ms of Lua at 2,000 instructions per ms (0 is taken as 1)"),
    Param(config="lua-time-limit", kind="cluster", default="5000", check=v.non_negative_int,
          help="Redis's older name of busy-reply-threshold (used when that one was never set)"),
    Param(config="appendonly", kind="fixed", default="yes"),
    Param(config="appendfilename", kind="fixed", default="raft.journal"),

    # ---- Redis's tuning parameters, with Redis's defaults: accepted, reported back, no effect.
    *_tuning({
        "save": "", "tcp-keepalive": "300",
        "hash-max-listpack-entries": "512", "hash-max-listpack-value": "64",
        "hash-max-ziplist-entries": "512", "hash-max-ziplist-value": "64",
        "list-max-listpack-size": "-2", "list-max-ziplist-size": "-2", "list-compress-depth": "0",
        "set-max-intset-entries": "512", "set-max-listpack-entries": "128", "set-max-listpack-value": "64",
        "zset-max-listpack-entries": "128", "zset-max-listpack-value": "64",
        "zset-max-ziplist-entries": "128", "zset-max-ziplist-value": "64",
        "activerehashing": "yes", "lazyfree-lazy-eviction": "no", "lazyfree-lazy-expire": "no",
        "lazyfree-lazy-server-del": "no", "lazyfree-lazy-user-del": "no", "lazyfree-lazy-user-flush": "no",
        "hz": "10", "dynamic-hz": "yes", "loglevel": "notice", "protected-mode": "no",
        "min-replicas-to-write": "0", "min-replicas-max-lag": "10", "replica-read-only": "yes",
        "stop-writes-on-bgsave-error": "no", "rdbcompression": "yes", "close-on-oom": "no", "enable-debug-command": "no",
        "stream-node-max-bytes": "4096",
    }),
)

#: The rows set at start (flag, variable, TOML key), by key.
BY_KEY: dict[str, Param] = {p.key: p for p in PARAMS if p.key}
#: The rows that are NodeConfig fields, by field.
BY_FIELD: dict[str, Param] = {p.field: p for p in PARAMS if p.field}
#: The CONFIG GET/SET parameters, by CONFIG name.
BY_CONFIG: dict[str, Param] = {p.config: p for p in PARAMS if p.config}
