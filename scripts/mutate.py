"""Mutation check: does the test suite catch each deliberately broken guarantee?

Each mutation below is a small textual patch (exact text -> replacement) on
one file. For each, the repository is copied to a temporary directory
(tracked files only), the patch is applied there (the script stops with an
error if the text to replace is no longer found exactly once: update the
mutation), and the mutation's short list of tests runs in that copy. The
copy is imported instead of the installed package: `raftcache/` in the copy
gets symlinks to `node/`, `client/` and `proto/` (pyproject's package-dir
mapping) and the copy goes first on PYTHONPATH, so the current interpreter's
dependencies are reused without a reinstall; every test run first checks
that `raftcache.node` really comes from the copy. Node processes started by
the tests inherit PYTHONPATH and run the mutated code too.

Prints JSON: {mutation: {"caught": bool, "failed": ["test id - reason"]}}; exits 1
when a mutation is not caught. Usage: python scripts/mutate.py [NAME ...]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str             # file in the repository
    old: str              # exact text, must occur once
    new: str
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation(
        "skip-read-index-round", "node/raft/readindex.py",
        "                elif acked > current.started:\n",
        "                elif True:  # MUTATION: a read index without a heartbeat round\n",
        ("tests/unit/test_readindex.py",),
    ),
    Mutation(
        "vouch-any-term", "node/raft/readindex.py",
        "        vouched = type(term) is int and term == node.raftCurrentTerm and node.majority_with(peer)\n",
        "        vouched = node.majority_with(peer)  # MUTATION: a request of an older term answered without a round\n",
        ("tests/unit/test_readindex.py",),
    ),
    Mutation(
        "vouch-any-cluster", "node/raft/raftnode.py",
        "        return (len(voters) + 1) // 2 == 1 and node in voters\n",
        "        return True  # MUTATION: five voters, or a read-only peer, answered without a round\n",
        ("tests/unit/test_readindex.py",),
    ),
    Mutation(
        "no-read-floor", "node/frontends/resp_streams.py",
        "        await conn.service.wait_applied(conn.session.last_write_index)\n",
        "        pass  # MUTATION: a blocking XREAD does not wait for the connection's writes to be applied here\n",
        ("tests/integration/test_follower_reads.py::"
         "test_a_blocking_xread_from_dollar_on_a_follower_starts_after_the_connections_own_xadd",),
    ),
    Mutation(
        "disable-dedup", "node/commands/statemachine.py",
        "        deduped = bool(entry.client_id) and entry.sequence != 0 and name not in READ_COMMANDS\n",
        "        deduped = False  # MUTATION: retried writes are applied again\n",
        ("tests/unit/test_statemachine.py", "tests/unit/test_apply_total.py"),
    ),
    Mutation(
        "dedup-stays-behind", "node/commands/dedup.py",
        "        if raw is not None and _HEAD.unpack_from(raw)[0] >= entry.sequence:\n",
        "        if True:  # MUTATION: a slot move does not carry the dedup entries\n",
        ("tests/unit/test_slot_migration.py::test_a_retried_write_is_not_applied_again_after_its_slot_moved",),
    ),
    Mutation(
        "skip-fsync", "node/raft/journal.py",
        "            resizable.flush()  # msync(MS_SYNC) of the mapping\n"
        "            os.fsync(resizable._ResizableFile__f.fileno())  # file size / metadata after growth\n",
        "            pass  # MUTATION: the journal flush syncs nothing\n",
        ("tests/integration/test_durability_syscalls.py",
         "tests/integration/test_power_cut.py::test_always_loses_no_acknowledged_write"),
    ),
    Mutation(
        "journal-record-unwritten", "node/raft/journal.py",
        "        self._write_at(offset, _RECORD_HEAD.pack(size, idx, term), data, _RECORD_LENGTH.pack(size))\n",
        "        pass  # MUTATION: the record is kept in memory only, never written to the journal\n",
        ("tests/unit/test_replication_durability.py",
         "tests/integration/test_power_cut.py::test_always_loses_no_acknowledged_write"),
    ),
    Mutation(
        "journal-end-unwritten", "node/raft/journal.py",
        "        self._write_at(LAST_RECORD_OFFSET_OFFSET, _RECORD_LENGTH.pack(end))   # the journal's end, in its header\n",
        "        pass  # MUTATION: the header's end offset is not moved: a reload sees no new record\n",
        ("tests/unit/test_replication_durability.py",
         "tests/integration/test_power_cut.py::test_always_loses_no_acknowledged_write"),
    ),
    Mutation(
        "skip-msync", "node/raft/journal.py",
        "            resizable.flush()  # msync(MS_SYNC) of the mapping\n",
        "            pass  # MUTATION: no msync of the journal mapping\n",
        ("tests/integration/test_durability_syscalls.py",),
    ),
    Mutation(
        "always-ignored", "node/raft/replication.py",
        'flush_before_ack=cfg.appendfsync == "always"',
        "flush_before_ack=False",  # MUTATION: appendfsync always acknowledges before syncing
        ("tests/integration/test_durability_syscalls.py",
         "tests/integration/test_power_cut.py::test_always_loses_no_acknowledged_write"),
    ),
    Mutation(
        "drop-items-from-backup", "node/ops/backup.py",
        "        keyspace.copy_to(copy)\n",
        "        keyspace.copy_to(copy)\n"
        "        import lmdb  # MUTATION: the backup loses the items database\n"
        "        _env = lmdb.open(copy, subdir=False, lock=False, max_dbs=8, map_size=os.path.getsize(copy) * 4)\n"
        "        with _env.begin(write=True) as _txn:\n"
        "            _txn.drop(_env.open_db(b'items', txn=_txn), delete=True)\n"
        "        _env.close()\n",
        ("tests/unit/test_backup_items.py",
         "tests/integration/test_backup_source.py"),
    ),
    Mutation(
        "verify-ignores-items", "node/ops/backup.py",
        "        _keyspace.check_items(copy)\n",
        "        pass  # MUTATION: verify does not look for the items of large containers\n",
        ("tests/unit/test_backup_items.py",),
    ),
    Mutation(
        "lease-always-valid", "node/raft/replication.py",
        "        return node.quorum_ack_time() > time.monotonic() - cfg.election_timeout_min_s * (1 - cfg.lease_drift)\n",
        "        return True  # MUTATION: the leader always holds a lease\n",
        ("tests/unit/test_replication_lease.py",
         "tests/chaos/test_lease_pause.py::test_lease_reads_at_a_leader_cut_from_its_peers_are_linearizable"),
    ),
    Mutation(
        "apply-twice", "node/commands/statemachine.py",
        "                result = self._execute(txn, index, entry.command, entry.now_ms, entry.seed, room, entry.version or 1,\n",
        "                self._execute(txn, index, entry.command, entry.now_ms, entry.seed, room, entry.version or 1,"
        " effects)  # MUTATION: applied twice\n"
        "                result = self._execute(txn, index, entry.command, entry.now_ms, entry.seed, room, entry.version or 1,\n",
        ("tests/unit/test_statemachine.py",),
    ),
]

_PACKAGE_DIRS = {"node": "node", "client": "client", "proto": "proto"}
_CHECK_IMPORT = ("import os, sys, raftcache.node as n; "
                 "sys.exit(0 if os.path.realpath(n.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)")


class MutationError(RuntimeError):
    """A mutation no longer applies, or the copy is not what the tests import."""


def copy_repo(dest: str) -> None:
    """Copy the tracked files (as in the work tree) of the repository to `dest`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for rel in files.decode().split("\0"):
        if not rel or not os.path.exists(os.path.join(ROOT, rel)):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)
    for name, src in _PACKAGE_DIRS.items():
        os.symlink(os.path.join("..", src), os.path.join(dest, "raftcache", name))


def apply(mutation: Mutation, dest: str) -> None:
    path = os.path.join(dest, mutation.path)
    with open(path) as f:
        text = f.read()
    n = text.count(mutation.old)
    if n != 1:
        raise MutationError(f"mutation {mutation.name}: the text to replace occurs {n} times in "
                            f"{mutation.path} (expected once); update scripts/mutate.py")
    with open(path, "w") as f:
        f.write(text.replace(mutation.old, mutation.new))


def run_tests(mutation: Mutation, dest: str) -> list[str]:
    """Run the mutation's tests in `dest`; returns the failed tests (id - first line of
    the failure; errors count as failures)."""
    env = dict(os.environ, PYTHONPATH=dest + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONDONTWRITEBYTECODE="1", COLUMNS="400")
    if subprocess.run([sys.executable, "-c", _CHECK_IMPORT, dest], cwd=dest, env=env).returncode != 0:
        raise MutationError(f"{mutation.name}: raftcache.node is not imported from the mutated copy")
    report = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "-m", "chaos or not chaos",
         *mutation.tests],
        cwd=dest, env=env, capture_output=True, text=True)
    failed = sorted({f"{test} - {why[:160]}" if why else test
                     for test, why in re.findall(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$", report.stdout, re.M)})
    if report.returncode not in (0, 1) or (report.returncode == 1 and not failed):
        raise MutationError(f"{mutation.name}: pytest exited {report.returncode}:\n{report.stdout[-3000:]}"
                            f"\n{report.stderr[-3000:]}")
    return failed


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"unknown mutations: {sorted(unknown)}; known: {[m.name for m in MUTATIONS]}")
    results = {}
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix=f"mutate-{mutation.name}-") as dest:
            copy_repo(dest)
            apply(mutation, dest)
            failed = run_tests(mutation, dest)
        results[mutation.name] = {"caught": bool(failed), "failed": failed}
        print(f"{mutation.name}: {'caught' if failed else 'NOT CAUGHT'}", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    return 0 if all(r["caught"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
