"""Regenerate raftcache.proto.* (the *_pb2.py modules beside the .proto sources).

Usage: python scripts/gen_proto.py [--check]

The sources live in proto/ and are compiled under the virtual path
raftcache/proto/ so that generated imports read `from raftcache.proto import …`.
With --check nothing is written; the exit status is 1 when a generated module
is stale (tests/unit/test_proto_fresh.py runs the same check).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

PROTO_DIR = pathlib.Path(__file__).resolve().parent.parent / "proto"


def generate(out_dir: pathlib.Path) -> dict[str, bytes]:
    """Compile every proto/*.proto into out_dir; return {file name: contents}."""
    from grpc_tools import protoc
    import grpc_tools

    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(f"raftcache/proto/{p.name}" for p in PROTO_DIR.glob("*.proto"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-Iraftcache/proto={PROTO_DIR}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *sources,
        ]
    )
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    generated = out_dir / "raftcache" / "proto"
    return {p.name: p.read_bytes() for p in sorted(generated.glob("*_pb2*.py*"))}


def stale_files() -> list[str]:
    """Names of generated modules that differ from what the sources give."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(pathlib.Path(tmp))
    stale = [n for n, data in fresh.items() if not (PROTO_DIR / n).is_file() or (PROTO_DIR / n).read_bytes() != data]
    extra = [p.name for p in PROTO_DIR.glob("*_pb2*.py*") if p.name not in fresh]
    return stale + extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: proto/{name}")
        return 1 if stale else 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(pathlib.Path(tmp))
    for name, data in fresh.items():
        (PROTO_DIR / name).write_bytes(data)
    print(f"wrote {len(fresh)} modules to {PROTO_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
