"""Where stored scripts and function libraries live: the keyspace's meta table, so every
replica holds them, and snapshots, backups and restarts carry them.

    script/<sha1 hex>          -> the script's body (SCRIPT LOAD, or an EVAL that ran)
    evalcache/<sha1 hex>       -> its place in EVAL's cache (8 bytes), while EVAL's cache holds it
    evalorder/<place><sha1 hex> -> b"": EVAL's cache in least-recently-used order
    evalclock                  -> the next place, how many scripts EVAL's cache holds, how many
                                  it ever evicted (INFO evicted_scripts counts from it)
    function/lib/<library>     -> the library's code (FUNCTION LOAD)
    function/fn/<function>     -> JSON {"library", "flags", "description"}

Also the FUNCTION DUMP payload: Redis 7's (node/storage/rdb.py: each library's code after
RDB_OPCODE_FUNCTION2, the RDB version, a CRC64), restored from log version 19 on; FUNCTION
RESTORE still takes the payload earlier releases dumped: b"RCFN", a format byte, MessagePack
[[name, code]…], then the CRC32 of what precedes it. Must not import lmdb (it is given
transactions).
"""

from __future__ import annotations

import json
import struct
import zlib

import msgpack

from raftcache.node.storage import rdb

_SCRIPT = b"script/"
_EVAL = b"evalcache/"
_EVAL_ORDER = b"evalorder/"
_EVAL_CLOCK = b"evalclock"
_PLACE = struct.Struct(">Q")
_CLOCK = struct.Struct(">QQQ")
#: Most scripts EVAL's cache holds (Redis 7.4's: its LRU list of EVAL-cached scripts). Scripts
#: SCRIPT LOAD stored are not in it and are never evicted.
EVAL_CACHE_MAX = 500
_LIB = b"function/lib/"
_FN = b"function/fn/"
#: Entries deleted per meta_range call while flushing scripts.
_CHUNK = 1024
#: Most libraries, and most functions, listed at once (FUNCTION LOAD refuses more).
MAX_LIBRARY_ENTRIES = 10_000
_DUMP_MAGIC = b"RCFN\x01"   # FUNCTION DUMP's payload before log version 19 (still restored)
_BAD_PAYLOAD = "payload version or checksum are wrong"
_REDIS_PAYLOAD_ERRORS = (rdb.BAD_CHECKSUM, rdb.NOT_A_FUNCTION, rdb.PRE_GA_FUNCTIONS)
_CRC = struct.Struct(">I")


def script(txn, sha: str) -> bytes | None:
    return txn.meta_get(_SCRIPT + sha.lower().encode())


def put_script(txn, sha: str, body: bytes) -> None:
    name = _SCRIPT + sha.encode()
    if txn.meta_get(name) is None:
        txn.meta_put(name, body)


def cache_evaled(txn, sha: str, body: bytes) -> None:
    """EVAL's script cache (log version 18 on, Redis 7.4's): a script new to the node is stored
    at the cache's most recent place, the least recently used ones past EVAL_CACHE_MAX are
    forgotten first (counted in the same transaction: a rolled-back eviction is not counted);
    a script the cache holds moves to its most recent place; one SCRIPT LOAD stored stays."""
    name = _SCRIPT + sha.encode()
    if txn.meta_get(name) is not None:
        touch(txn, sha)
        return
    txn.meta_put(name, body)
    place, held, evicted = _clock(txn)
    while held >= EVAL_CACHE_MAX:
        oldest = txn.meta_range(_EVAL_ORDER, 1)
        if not oldest:
            break
        victim = oldest[0][0][len(_EVAL_ORDER) + _PLACE.size:]
        for gone in (oldest[0][0], _EVAL + victim, _SCRIPT + victim):
            txn.meta_delete(gone)
        held -= 1
        evicted += 1
    _put_place(txn, sha.encode(), place)
    txn.meta_put(_EVAL_CLOCK, _CLOCK.pack(place + 1, held + 1, evicted))


def touch(txn, sha: str) -> None:
    """A script ran from the log by EVAL or EVALSHA: to EVAL's cache's most recent place, when
    the cache holds it (log version 18 on)."""
    raw = txn.meta_get(_EVAL + sha.encode())
    if raw is None:
        return
    txn.meta_delete(_EVAL_ORDER + raw + sha.encode())
    place, held, evicted = _clock(txn)
    _put_place(txn, sha.encode(), place)
    txn.meta_put(_EVAL_CLOCK, _CLOCK.pack(place + 1, held, evicted))


def keep(txn, sha: str) -> None:
    """SCRIPT LOAD of a script EVAL's cache holds: out of the cache, never evicted (version 18 on)."""
    raw = txn.meta_get(_EVAL + sha.encode())
    if raw is None:
        return
    txn.meta_delete(_EVAL_ORDER + raw + sha.encode())
    txn.meta_delete(_EVAL + sha.encode())
    place, held, evicted = _clock(txn)
    txn.meta_put(_EVAL_CLOCK, _CLOCK.pack(place, held - 1, evicted))


def evicted_total(txn) -> int:
    """How many scripts EVAL's cache evicted since the log began (the same on every replica)."""
    return _clock(txn)[2]


def _clock(txn) -> tuple[int, int, int]:
    """(the next place, how many scripts EVAL's cache holds, how many it evicted)."""
    raw = txn.meta_get(_EVAL_CLOCK)
    return (0, 0, 0) if raw is None else _CLOCK.unpack(raw)


def _put_place(txn, sha: bytes, place: int) -> None:
    packed = _PLACE.pack(place)
    txn.meta_put(_EVAL + sha, packed)
    txn.meta_put(_EVAL_ORDER + packed + sha, b"")


def usage(txn) -> dict[str, int]:
    """What the node stores of scripts and libraries, for INFO memory: the counts
    (number_of_cached_scripts, number_of_functions, number_of_libraries) and the bytes
    (used_memory_scripts_eval: the scripts' names and bodies; used_memory_functions: the
    libraries' code and their functions' records)."""
    scripts, script_bytes = txn.meta_usage(_SCRIPT)
    functions, function_bytes = txn.meta_usage(_FN)
    libraries, library_bytes = txn.meta_usage(_LIB)
    return {"number_of_cached_scripts": scripts, "number_of_functions": functions,
            "number_of_libraries": libraries, "used_memory_scripts_eval": script_bytes,
            "used_memory_functions": function_bytes + library_bytes}


def _names(txn, prefix: bytes) -> list[tuple[bytes, bytes]]:
    return [(n[len(prefix):], v) for n, v in txn.meta_range(prefix, MAX_LIBRARY_ENTRIES)]


def may_flush(txn, op) -> bool:
    """Whether the code an Eval op runs names FLUSHALL, FLUSHDB or SWAPDB (or cannot be
    read): such a script runs in a savepoint; a script that builds those names at run
    time is refused them (node/scripting/engine.py)."""
    if op.function:
        info = function(txn, op.function)
        code = library(txn, info["library"]) if info is not None else None
    else:
        code = op.body or script(txn, op.sha)
    return flushes(code)


def flushes(code: bytes | None) -> bool:
    """may_flush's rule for the code itself (None: a script that cannot be read)."""
    if code is None:
        return True
    code = code.lower()   # as re.IGNORECASE on bytes: ASCII letters only
    return b"flush" in code or b"swapdb" in code


def flush_scripts(txn) -> None:
    for prefix in (_SCRIPT, _EVAL, _EVAL_ORDER):
        while True:
            chunk = txn.meta_range(prefix, _CHUNK)
            for name, _ in chunk:
                txn.meta_delete(name)
            if len(chunk) < _CHUNK:
                break
    evicted = evicted_total(txn)   # a statistic: the flush does not reset it
    if evicted:
        txn.meta_put(_EVAL_CLOCK, _CLOCK.pack(0, 0, evicted))
    else:
        txn.meta_delete(_EVAL_CLOCK)


def library(txn, name: str) -> bytes | None:
    return txn.meta_get(_LIB + name.encode())


def libraries(txn) -> list[tuple[str, bytes]]:
    """Every library (name, code), by name."""
    return [(n.decode(), v) for n, v in _names(txn, _LIB)]


def function(txn, name: str) -> dict | None:
    raw = txn.meta_get(_FN + name.encode())
    return None if raw is None else json.loads(raw)


def functions(txn) -> dict[str, dict]:
    return {n.decode(): json.loads(v) for n, v in _names(txn, _FN)}


def put_library(txn, name: str, code: bytes, registered: dict[str, dict]) -> None:
    """Store library `name` with its functions (name -> {"flags", "description"}), replacing
    any library of that name and its functions."""
    delete_library(txn, name)
    txn.meta_put(_LIB + name.encode(), code)
    for fname, info in registered.items():
        record = {"library": name, "flags": info["flags"], "description": info["description"]}
        txn.meta_put(_FN + fname.encode(), json.dumps(record, sort_keys=True).encode())


def delete_library(txn, name: str) -> bool:
    if txn.meta_get(_LIB + name.encode()) is None:
        return False
    for fname, info in functions(txn).items():
        if info["library"] == name:
            txn.meta_delete(_FN + fname.encode())
    txn.meta_delete(_LIB + name.encode())
    return True


def flush_libraries(txn) -> None:
    for name, _ in libraries(txn):
        delete_library(txn, name)


def dump(txn, redis_format: bool) -> bytes:
    """FUNCTION DUMP's payload: as Redis 7 writes it (FUNCTION RESTORE on Redis takes it) once
    the log runs version 19, before that the format the whole cluster restores."""
    if redis_format:
        return rdb.function_libraries(code for _, code in libraries(txn))
    body = _DUMP_MAGIC + msgpack.packb([[name, code] for name, code in libraries(txn)], use_bin_type=True)
    return body + _CRC.pack(zlib.crc32(body))


def parse_dump(payload: bytes, redis_format: bool, max_code_bytes: int,
               bounded: bool = True) -> list[tuple[str | None, bytes]] | str:
    """The (name, code) pairs of a FUNCTION DUMP payload (name None: the code's header says
    it), or the error text. Redis 7's payload when `redis_format` (log version 19 on), and
    raftcache's own of earlier releases (b"RCFN", MessagePack, CRC32). A compressed code
    expands to at most `max_code_bytes`, and so do all of them together when `bounded` (log
    version 28 on: before, a payload of many codes could expand ~90 times its size)."""
    if not payload.startswith(_DUMP_MAGIC):
        if not redis_format:
            return _BAD_PAYLOAD
        try:
            codes = rdb.decode_function_libraries(payload, max_code_bytes, max_code_bytes if bounded else None)
        except rdb.RdbError as e:   # Redis's texts
            if str(e) == rdb.EXPANDS_TOO_FAR:
                return "library payload expands too far"
            return str(e) if str(e) in _REDIS_PAYLOAD_ERRORS else "Failed loading library payload"
        return [(None, code) for code in codes]
    if len(payload) < len(_DUMP_MAGIC) + _CRC.size:
        return _BAD_PAYLOAD
    body, crc = payload[:-_CRC.size], _CRC.unpack(payload[-_CRC.size:])[0]
    if zlib.crc32(body) != crc:
        return _BAD_PAYLOAD
    try:
        items = msgpack.unpackb(body[len(_DUMP_MAGIC):], raw=False)
        # bytes(n) of a number is n zero bytes: "Missing library metadata" whatever n, so a
        # number is taken as no code (a huge n must not exhaust a replica's memory)
        return [(str(name), b"" if isinstance(code, int) else bytes(code)) for name, code in items]
    except (ValueError, TypeError, OverflowError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return _BAD_PAYLOAD
