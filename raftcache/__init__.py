"""raftcache: a replicated in-memory data store (gRPC, Redis and memcached protocols over Raft and LMDB).

The server lives in raftcache.node, the Python SDK in raftcache.client, the
generated protobuf modules in raftcache.proto, and the command line in
raftcache.cli.
"""

__version__ = "0.1.0"
