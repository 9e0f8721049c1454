"""`python -m raftcache` runs the command line (raftcache.cli)."""

from raftcache.cli import main

raise SystemExit(main())
