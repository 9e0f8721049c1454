"""Power cuts of whole clusters on a file system that loses what was not synced (docs/durability.md "Power cuts").

- `fs`    the FUSE passthrough file system (a daemon: `python scripts/powercut/fs.py BACKING MOUNTPOINT`)
- `mount` a node data dir on its own `fs` mount, cut and mounted again, driven by PID
- `run`   one power-cut run of a 3-node cluster: acknowledged writes, a cut, a check

Used by scripts/power_cut.py (repeated runs) and the tests (tests/unit/test_powercut_fs.py,
tests/integration/test_power_cut.py).
"""
