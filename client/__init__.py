"""The raftcache Python SDK."""
