#!/usr/bin/env python3
"""Repeated power cuts of a whole 3-node cluster; reports what each policy lost.

Each run starts three nodes whose data dirs are scripts/powercut/fs.py mounts,
writes through redis-py for --writing-s seconds, kills every node (-9),
drops every unsynced byte on every mount, restarts and reads every
acknowledged write back (scripts/powercut/run.py). Needs FUSE (/dev/fuse,
fusermount, fusepy over libfuse2) and root or a user allowed to mount.

Usage:
  python scripts/power_cut.py --appendfsync always --runs 10
  python scripts/power_cut.py --appendfsync everysec --runs 10 --writing-s 8

Exit status 1 when a run with `always` lost an acknowledged write, or a run
with `everysec` lost one acknowledged more than --everysec-bound-s before the
cut, or a cut took away a file the node writes durably; 2 when a run failed; 77 when FUSE is not available here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts.powercut.run import run_power_cut
from scripts.powercut.mount import unavailable


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appendfsync", choices=("always", "everysec", "no"), default="always")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--writing-s", type=float, default=5.0)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--everysec-bound-s", type=float, default=1.5)
    p.add_argument("--strict-metadata", action="store_true",
                   help="name changes (create, rename, unlink) survive a cut only after a directory fsync")
    p.add_argument("--keep", action="store_true", help="keep each run's directory (logs, backing dirs)")
    args = p.parse_args()
    why_not = unavailable()
    if why_not:
        print(f"skipped: {why_not}")
        return 77
    worst = 0.0
    bad = failed = 0
    for run in range(1, args.runs + 1):
        root = tempfile.mkdtemp(prefix=f"power-cut-{args.appendfsync}-")
        try:
            result = run_power_cut(root, args.appendfsync, writing_s=args.writing_s, writers=args.writers,
                                   strict_metadata=args.strict_metadata)
        except Exception as exc:  # noqa: BLE001 - reported, counted
            failed += 1
            print(f"run {run}: FAILED {type(exc).__name__}: {exc} (kept {root})", flush=True)
            continue
        worst = max(worst, result.max_lost_age_s)
        too_much = bool(result.missing_files) or bool(
            result.lost if args.appendfsync == "always"
            else result.max_lost_age_s > args.everysec_bound_s if args.appendfsync == "everysec" else False)
        bad += bool(too_much)
        print(f"run {run}: {'LOST TOO MUCH ' if too_much else ''}{result.summary()}", flush=True)
        if not args.keep and not too_much:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"  kept {root}")
    print(f"{args.runs} runs, appendfsync={args.appendfsync}: {bad} lost too much, {failed} failed; "
          f"oldest lost write acknowledged {worst:.3f}s before its cut")
    return 2 if failed else 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
