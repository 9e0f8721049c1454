"""Storage: the LMDB keyspace and how values and container elements are laid out in it."""
