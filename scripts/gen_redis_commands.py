"""Regenerate node/frontends/redis_commands.json: Redis's COMMAND INFO and COMMAND
DOCS entries for every command the RESP front end implements.

Usage: python scripts/gen_redis_commands.py --server /path/to/redis-server [--only eval,evalsha]
       python scripts/gen_redis_commands.py --entries scripts/data/redis-7.4-commands.json

The server should be of the Redis version the front end follows
(node/frontends/resp_admin.py REDIS_VERSION, 7.4); it is started on a free
loopback port, asked `COMMAND INFO` and `COMMAND DOCS` (RESP3) for each name
of the RESP command table, and stopped. The replies are stored with their
RESP3 types (see node/frontends/resp_command_docs.py for the format), so the
node answers COMMAND, COMMAND INFO/DOCS/LIST/COUNT with Redis's own arity,
flags, key specs, ACL categories, tips and documentation. Run it again when
a command is added to the table; tests/unit/test_command_docs.py checks that
every command has its entry. With --only, just those commands are asked and merged
into the existing file (its version stays; each such entry records the version it came
from under "from"): for a command added when no server of the followed version is at hand.

With --entries FILE, no server is started: the entries of FILE (the same format, with its
own "redis_version") are merged into the existing file, each recording that version under
"from", and the file's version becomes FILE's. scripts/data/redis-7.4-commands.json holds
Redis 7.4's entries of the hash field expiration commands (HEXPIRE ... HPERSIST), written
from Redis 7.4's command reference (src/commands/*.json) because the redis-server at hand
was 7.0; regenerate them from a 7.4 server with --server ... --only when one is available.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raftcache.node.frontends.resp_table import TABLE  # noqa: E402 - after the checkout is on sys.path

OUT = ROOT / "node" / "frontends" / "redis_commands.json"


class Resp3:
    """A minimal RESP3 reader producing the typed JSON values of the data file."""

    def __init__(self, sock: socket.socket):
        self.file = sock.makefile("rb")

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2].decode()
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == b"+":
            return {"+": rest}
        if kind == b"-":
            raise RuntimeError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        if kind == b",":
            return {",": rest}
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        if kind == b"~":
            return {"~": [self.read() for _ in range(int(rest))]}
        if kind == b"%":
            return {"%": [[self.read(), self.read()] for _ in range(int(rest))]}
        raise RuntimeError(f"unexpected reply type {line!r}")


def _call(sock: socket.socket, reader: Resp3, *args: str):
    sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args))
    return reader.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="a redis-server of the version followed (7.4)")
    parser.add_argument("--entries", type=pathlib.Path,
                        help="merge the entries of this data file instead of asking a server")
    parser.add_argument("--only", type=lambda s: [n.lower() for n in s.split(",") if n],
                        help="comma-separated commands to (re)generate, merged into the existing file")
    args = parser.parse_args()
    if args.entries:
        _merge_entries(args.entries)
        return
    if not args.server:
        parser.error("give --server or --entries")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([args.server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.05)
            reader = Resp3(sock)
            _call(sock, reader, "HELLO", "3")
            version = dict(_call(sock, reader, "HELLO", "3")["%"])["version"]
            commands = {}
            names = [n.encode() for n in args.only] if args.only else sorted(TABLE)
            for name in names:
                text = name.decode()
                if args.only and text not in args.only:
                    continue
                (info,) = _call(sock, reader, "COMMAND", "INFO", text)
                docs = dict(_call(sock, reader, "COMMAND", "DOCS", text)["%"])
                if info is not None:
                    commands[text] = {"info": info, "docs": docs[text]}
            sock.close()
        finally:
            proc.terminate()
            proc.wait(10)
    if args.only:
        existing = json.loads(OUT.read_text())
        for entry in commands.values():
            entry["from"] = version
        commands, version = {**existing["commands"], **commands}, existing["redis_version"]
    _write(version, commands)
    missing = sorted(n.decode() for n in TABLE if n.decode() not in commands)
    print(f"wrote {len(commands)} commands of Redis {version} to {OUT.relative_to(ROOT)}"
          + (f"; not in Redis: {', '.join(missing)}" if missing else ""))


def _write(version: str, commands: dict) -> None:
    OUT.write_text(json.dumps({"redis_version": version, "commands": commands}, indent=None,
                              separators=(",", ":"), sort_keys=True) + "\n")


def _merge_entries(path: pathlib.Path) -> None:
    data = json.loads(path.read_text())
    version = data["redis_version"]
    existing = json.loads(OUT.read_text())
    added = {name: {**entry, "from": version} for name, entry in data["commands"].items()}
    _write(version, {**existing["commands"], **added})
    print(f"merged {len(added)} commands of Redis {version} from {path} into {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
