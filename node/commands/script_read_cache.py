"""The scripts this node ran as reads: EVAL_RO, and EVAL of a `#!lua flags=no-writes` script.

Redis caches every script an EVAL runs, so EVALSHA_RO (or EVALSHA) after EVAL_RO works. A read
here has no log entry, so these scripts cannot join the replicated cache (node/scripting/store.py);
this node keeps them itself, at most READ_CACHE_MAX, the least recently used forgotten first.
Only reads served here consult it (never an entry applied from the log: replicas' caches differ);
an EVALSHA the RESP port sends as a write (or an EVALSHA_RO queued in MULTI) carries the body of
a script only this cache holds, so every replica can run it
(node/frontends/resp_scripting.carry_read_cached). SCRIPT FLUSH empties it on every node, and
so does installing a snapshot. Must not touch: the keyspace, Raft.
"""

from __future__ import annotations

import collections
import threading

#: Most scripts a node keeps from its reads (as Redis 7.4's bound on EVAL's cache).
READ_CACHE_MAX = 500

_lock = threading.Lock()
_scripts: collections.OrderedDict[str, bytes] = collections.OrderedDict()


def remember(sha: str, body: bytes) -> None:
    """A script a read ran: kept, or moved to the most recent place."""
    with _lock:
        _scripts[sha] = body
        _scripts.move_to_end(sha)
        while len(_scripts) > READ_CACHE_MAX:
            _scripts.popitem(last=False)


def body(sha: str) -> bytes | None:
    """The body of a script a read ran here (and it moves to the most recent place), or None."""
    if not _scripts:
        return None
    with _lock:
        found = _scripts.get(sha)
        if found is not None:
            _scripts.move_to_end(sha)
        return found


def holds(sha: str) -> bool:
    """Whether this node keeps the script (SCRIPT EXISTS: its place in the order stays)."""
    return sha in _scripts


def forget() -> None:
    """SCRIPT FLUSH."""
    with _lock:
        _scripts.clear()
