"""The raftcache Python SDK: cluster-aware, zone-aware clients with exactly-once write retries.

    from raftcache.client import Client
    with Client(["127.0.0.1:7000"], zone="a") as cache:
        cache.set("greeting", "hello", ex=60)
        cache.incr("visits")

`AsyncClient` is the asyncio implementation; `Client` runs it on a private
event loop. Method names and replies follow redis-py. See docs/client.md.
Must not import raftcache.node: the SDK mirrors the protocol (raftcache.proto).
"""

from raftcache.client._async import AsyncClient, AsyncPipeline
from raftcache.client._sync import Client, Pipeline
from raftcache.client.admin import Admin, AsyncAdmin
from raftcache.client.auth import TLSConfig, from_environment
from raftcache.client.errors import (
    AuthenticationError,
    CommandSyntaxError,
    ConfigError,
    ConnectionFailedError,
    DeadlineExceededError,
    IncrOverflowError,
    InternalError,
    InvalidArgumentError,
    InvalidExpireError,
    KeyTooLargeError,
    NoSuchKeyError,
    NotFloatError,
    NotIntegerError,
    NotLeaderError,
    OutOfMemoryError,
    WrongShardError,
    AskError,
    TryAgainError,
    CrossSlotError,
    PermissionDeniedError,
    StaleSequenceError,
    RaftcacheError,
    ResponseError,
    UnavailableError,
    ValueTooLargeError,
    WrongTypeError,
)
from raftcache.client.options import ClientOptions, ReadLevel
from raftcache.client.pubsub import Message
from raftcache.client.retry import RetryPolicy
from raftcache.client.shards import cluster_file_seeds

__all__ = [
    "cluster_file_seeds",
    "Admin",
    "AsyncAdmin",
    "AsyncClient",
    "AsyncPipeline",
    "AuthenticationError",
    "Client",
    "ClientOptions",
    "CommandSyntaxError",
    "ConfigError",
    "ConnectionFailedError",
    "DeadlineExceededError",
    "IncrOverflowError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidExpireError",
    "KeyTooLargeError",
    "Message",
    "NoSuchKeyError",
    "NotFloatError",
    "NotIntegerError",
    "NotLeaderError",
    "OutOfMemoryError",
    "WrongShardError",
    "AskError",
    "TryAgainError",
    "CrossSlotError",
    "PermissionDeniedError",
    "StaleSequenceError",
    "TLSConfig",
    "Pipeline",
    "RaftcacheError",
    "ReadLevel",
    "ResponseError",
    "RetryPolicy",
    "UnavailableError",
    "ValueTooLargeError",
    "WrongTypeError",
    "from_environment",
]
