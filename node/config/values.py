"""The syntaxes of configuration values: how a text becomes a value, and what is refused.

Two kinds of function, used by the rows of the parameter table
(node/config/params.py), which declares no syntax of its own:

- start-up parsers (flags, RAFTCACHE_* variables, the TOML file): raise
  ConfigError; sizes in binary units (`512mb` = 512 MiB), member lists.
- CONFIG SET checks (`str -> str`: the normalised value, or SettingError):
  Redis's notations (`100mb`, `5k` = 5000), so that tools that speak Redis
  keep working. They are pure: the state machine runs them at apply.

Also the value types and limits those rules name (Peer and the port layout come from
raftcache/peers.py, shared with the SDK).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

from raftcache.node.consistency import ReadConsistency
from raftcache.node.errors import ConfigError
# The member spelling and the port layout are shared with the SDK and the command line.
from raftcache.peers import PORT_OFFSETS, Peer, PeerSpecError  # noqa: F401 - PORT_OFFSETS re-exported

FSYNC_POLICIES = ("always", "everysec", "no")
READ_LEVELS = ("linearizable", "lease", "bounded", "any")
ROLES = ("voter", "replica")
TLS_AUTH_CLIENTS = ("yes", "no", "optional")
YES_NO = ("yes", "no")
TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
#: The TLS 1.3 cipher suites OpenSSL knows (RFC 8446 names), as `tls-ciphersuites` takes them.
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")
#: The smallest plaintext port offset: the node's own ports are its base port + 0..4.
MIN_PLAINTEXT_PORT_OFFSET = 5
#: Redis's maxmemory policies (docs/eviction.md); volatile-lru is ElastiCache's default.
EVICTION_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                     "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
#: LMDB's key limit (511 bytes) less the prefixes the keyspace adds.
MAX_KEY_BYTES_LIMIT = 500
#: Largest value `proto-max-bulk-len` may take (Redis's default). One entry of that
#: size holds the Raft thread for many seconds: see docs/redis-compat.md "limits".
MAX_BULK_LIMIT = 512 << 20
#: Redis's client classes of `client-output-buffer-limit`, as CONFIG GET shows them.
OUTPUT_CLASSES = ("normal", "slave", "pubsub")


# ---------------------------------------------------------------- start-up values (ConfigError)

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """`512mb`, `2gb`, `1048576` -> bytes (binary units, as Redis's maxmemory)."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"bad size {text!r}: use e.g. 512mb or 2gb")
    unit = (m[2] or "").lower().rstrip("b").rstrip("i")
    return int(m[1]) * _SIZE_UNITS[unit]


def parse_peers(value: str | list | tuple) -> tuple[Peer, ...]:
    """A comma-separated string or (in TOML) a list of ID@ZONE=HOST:BASEPORT."""
    specs = value if isinstance(value, (list, tuple)) else [s for s in str(value).split(",") if s.strip()]
    try:
        return tuple(s if isinstance(s, Peer) else Peer.parse(s) for s in specs)
    except PeerSpecError as e:
        raise ConfigError(str(e)) from None


def parse_flag(value: object) -> bool:
    """A switch: the flag itself, TOML's true, or 1/true/yes/on in the environment."""
    return str(value).lower() in ("1", "true", "yes", "on")


def absolute_path(value: object) -> str:
    return os.path.abspath(str(value))


def absolute_path_or_none(value: object) -> str:
    """An absolute path, or "" (none) for an empty value."""
    return os.path.abspath(str(value)) if value else ""


# ---------------------------------------------------------------- CONFIG SET values (SettingError)

class SettingError(ValueError):
    """A value CONFIG SET refuses; the text says why."""


_MEMORY = re.compile(r"^(\d+)(b|k|kb|m|mb|g|gb)?$")
_MEMORY_UNITS = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
_CLASS_ALIASES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}


def parse_memory(text: str) -> int:
    """Redis's memory notation: 1048576, 100mb, 1gb, 5k (k = 1000, kb = 1024)."""
    m = _MEMORY.match(text.strip().lower())
    if m is None:
        raise SettingError("argument must be a memory value")
    return int(m.group(1)) * _MEMORY_UNITS[m.group(2)]


def memory_at_least(minimum: int) -> Callable[[str], str]:
    """A memory value of 0 or at least `minimum` bytes."""
    def check(text: str) -> str:
        n = parse_memory(text)
        if n and n < minimum:
            raise SettingError(f"argument must be 0 or at least {minimum} bytes")
        return str(n)
    return check


def bulk_len(text: str) -> str:
    n = parse_memory(text)
    if not (1 << 20) <= n <= MAX_BULK_LIMIT:
        raise SettingError(f"argument must be between {1 << 20} and {MAX_BULK_LIMIT} bytes")
    return str(n)


def query_buffer_limit(text: str) -> str:
    n = parse_memory(text)
    if n < 1 << 20:
        raise SettingError(f"argument must be at least {1 << 20} bytes")
    return str(n)


def non_negative_int(text: str) -> str:
    try:
        n = int(text)
    except ValueError:
        raise SettingError("argument couldn't be parsed into an integer") from None
    if n < 0:
        raise SettingError("argument must be a non-negative integer")
    return str(n)


def any_int(text: str) -> str:
    """An integer, negative ones included (slowlog-log-slower-than: negative = off)."""
    try:
        return str(int(text))
    except ValueError:
        raise SettingError("argument couldn't be parsed into an integer") from None


def yes_no(text: str) -> str:
    value = text.strip().lower()
    if value not in YES_NO:
        raise SettingError("argument must be 'yes' or 'no'")
    return value


def percentiles(text: str) -> str:
    """latency-tracking-info-percentiles: numbers from 0 to 100 separated by spaces (Redis's check)."""
    out = []
    for word in text.split():
        try:
            p = float(word)
        except ValueError:
            raise SettingError("argument(s) must be a list of percentiles (numbers between 0 and 100)") from None
        if not 0.0 <= p <= 100.0:
            raise SettingError("argument(s) must be a list of percentiles (numbers between 0 and 100)")
        out.append(f"{p:g}")
    return " ".join(out)


def positive_int(text: str) -> str:
    n = int(non_negative_int(text))
    if n < 1:
        raise SettingError("argument must be at least 1")
    return str(n)


def default_read_level(text: str) -> str:
    """A read level a node may use for requests that name none (its canonical spelling)."""
    try:
        level = ReadConsistency.parse(text)
    except ValueError as e:
        raise SettingError(str(e)) from None
    if level.level == "min_index":
        raise SettingError("min_index is a per-request level, not a default")
    return str(level)


def eviction_policy(text: str) -> str:
    policy = text.strip().lower()
    if policy not in EVICTION_POLICIES:
        raise SettingError(f"argument(s) must be one of the following: {', '.join(EVICTION_POLICIES)}")
    return policy


def only_noeviction(text: str) -> str:
    """maxmemory-policy as the log's semantics versions before eviction checked it."""
    if text.lower() != "noeviction":
        raise SettingError("raftcache supports only 'noeviction' until every node runs a release with "
                           "eviction (the log's semantics version 4)")
    return "noeviction"


def int_within(low: int, high: int) -> Callable[[str], str]:
    """An integer from `low` to `high`."""
    def check(text: str) -> str:
        n = int(non_negative_int(text))
        if not low <= n <= high:
            raise SettingError(f"argument must be between {low} and {high} inclusive")
        return str(n)
    return check


#: Keyspace-notification class letters (notify-keyspace-events); `A` is the alias of "g$lshzxetd".
NOTIFY_CLASSES = "KEg$lshzxetmdn"
_NOTIFY_ALL = frozenset("g$lshzxetd")


def notify_flags(text: str) -> frozenset[str]:
    """The classes a notify-keyspace-events string enables (Redis's letters, `A` expanded)."""
    flags: set[str] = set()
    for letter in text:
        if letter == "A":
            flags |= _NOTIFY_ALL
        elif letter in NOTIFY_CLASSES:
            flags.add(letter)
        else:
            raise SettingError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return frozenset(flags)


def notify_keyspace_events(text: str) -> str:
    """Redis's normal form of a flag set (what CONFIG GET shows): `A` when it covers all, then K, E."""
    flags = notify_flags(text)
    out = "A" + "".join(c for c in "mn" if c in flags) if _NOTIFY_ALL <= flags else \
        "".join(c for c in "g$lshzxetdmn" if c in flags)
    return out + "".join(c for c in "KE" if c in flags)


def any_text(text: str) -> str:
    return text


def requirepass_text(password: str) -> str:
    """What CONFIG GET requirepass shows: only the password's digest is kept (`#sha256`); "" = nopass."""
    return "#" + hashlib.sha256(password.encode()).hexdigest() if password else ""


def tls_ciphersuites(value: object) -> str:
    """`TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256`: known TLS 1.3 suite names only."""
    names = [n.strip() for n in str(value).split(":") if n.strip()]
    unknown = [n for n in names if n not in TLS13_SUITES]
    if unknown:
        raise ConfigError(f"--tls-ciphersuites: unknown TLS 1.3 cipher suite {', '.join(unknown)} "
                          f"(known: {', '.join(TLS13_SUITES)})")
    return ":".join(names)


def plaintext_port_offset(value: object) -> int:
    """0 (none) or at least MIN_PLAINTEXT_PORT_OFFSET, so the plaintext ports miss the node's own."""
    try:
        offset = int(str(value))
    except ValueError:
        raise ConfigError(f"--tls-plaintext-port-offset: not a number: {value!r}") from None
    if offset != 0 and not MIN_PLAINTEXT_PORT_OFFSET <= offset <= 60000:
        raise ConfigError(f"--tls-plaintext-port-offset {offset}: use 0 (TLS only) or "
                          f"{MIN_PLAINTEXT_PORT_OFFSET}..60000 (the node's own ports are base + 0..4)")
    return offset


def tls_auth_clients_user(value: object) -> str:
    text = str(value)
    if text.lower() not in ("cn", "off"):
        raise ConfigError("--tls-auth-clients-user must be CN or off")
    return "CN" if text.lower() == "cn" else "off"


def parse_output_limits(text: str) -> dict[str, tuple[int, int, int]]:
    """`<class> <hard> <soft> <soft seconds>` groups -> {class: (hard_bytes, soft_bytes, soft_s)}."""
    words = text.split()
    if not words or len(words) % 4:
        raise SettingError("wrong number of arguments in buffer limit configuration.")
    out: dict[str, tuple[int, int, int]] = {}
    for i in range(0, len(words), 4):
        name = _CLASS_ALIASES.get(words[i].lower())
        if name is None:
            raise SettingError("Invalid client class specified in buffer limit configuration.")
        hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
        try:
            soft_s = int(words[i + 3])
        except ValueError:
            raise SettingError("Error in soft_seconds setting in buffer limit configuration.") from None
        if soft_s < 0:
            raise SettingError("Error in soft_seconds setting in buffer limit configuration.")
        out[name] = (hard, soft, soft_s)
    return out


def spell_output_limits(limits: dict[str, tuple[int, int, int]]) -> str:
    """The normalised text of parsed output limits, classes in Redis's order."""
    return " ".join(f"{c} {limits[c][0]} {limits[c][1]} {limits[c][2]}" for c in OUTPUT_CLASSES if c in limits)


def output_limits(text: str) -> str:
    return spell_output_limits(parse_output_limits(text))


def parse_maxmemory_clients(text: str, maxmemory_bytes: int) -> int:
    """`maxmemory-clients` in bytes: a memory value, or `N%` of maxmemory; 0 = off."""
    text = text.strip()
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            raise SettingError("argument must be a memory or percent value") from None
        if not 0 <= percent <= 100:
            raise SettingError("percentage argument must be between 0 and 100")
        return maxmemory_bytes * percent // 100
    return parse_memory(text)


def maxmemory_clients(text: str) -> str:
    parse_maxmemory_clients(text, 1)
    return text.strip().lower() if text.strip().endswith("%") else str(parse_memory(text))
