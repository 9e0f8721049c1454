"""`raftcache ctl verify`: the one ctl verb that needs no node.

It checks a backup file with the node's own reader (raftcache.node.ops.backup:
header, sizes, checksums, and the keyspace image against its header), so it
lives apart from raftcache/ctl.py, which is built on the SDK alone: as
etcdutl beside etcdctl. raftcache/cli.py sends the verb here.
"""

from __future__ import annotations

import json
import os
import sys
import time

from raftcache import backup_crypto
from raftcache.node.errors import RaftcacheError
from raftcache.node.ops import backup
from raftcache.progress import Progress

VERBS = ("verify",)


def add_verbs(sub) -> None:
    p = sub.add_parser("verify", help="check a backup file offline (no node needed)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print the backup's header as JSON")
    p.add_argument("--key", metavar="KEYFILE", help="the key of an encrypted backup (ctl backup --encrypt-key); it "
                   "is checked through a decrypted copy in a private scratch dir, removed after")


def run(args) -> int:
    bar = Progress("verify", quiet=args.json)
    try:
        with backup_crypto.plaintext(args.file, args.key, os.path.dirname(os.path.abspath(args.file))) as plain:
            meta = backup.verify(plain, deep=True, progress=bar, step=bar.step)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
        return 1
    except backup_crypto.BackupKeyError as e:
        print(f"raftcache: error: {e}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    if args.json:
        print(json.dumps(meta.to_json(), indent=2))
    else:
        print(f"ok: {args.file}: format {meta.format_version}, cluster {meta.cluster_id}, index {meta.applied_index}, "
              f"term {meta.term}, {meta.key_count} keys, digest {meta.digest[:16]}, taken on {meta.node_id} "
              f"at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(meta.created_ms / 1000))}")
    return 0
