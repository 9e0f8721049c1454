"""The client buffer limits as the Redis port applies them (node/frontends/client_limits.py, node/config/settings.py)."""

from __future__ import annotations

import pytest

from raftcache.node.config import NodeConfig, settings
from raftcache.node.frontends.client_limits import BACKPRESSURE_BYTES, ClientLimits, OutputLimit, from_settings

MiB = 1 << 20
DEFAULTS = settings.node_defaults(NodeConfig())


def test_defaults_cap_the_query_buffer_by_the_value_limit():
    limits = from_settings(DEFAULTS, 64 * MiB, 1 << 30)
    assert limits.query_buffer_bytes == 129 * MiB          # not Redis's 1gb
    assert limits.normal == OutputLimit(0, 0, 0)
    assert limits.normal.high_water_bytes == BACKPRESSURE_BYTES
    assert limits.maxmemory_clients_bytes == 256 * MiB     # 25% of 1 GiB


def test_maxmemory_clients_never_below_one_full_command():
    limits = from_settings({**DEFAULTS, "maxmemory-clients": "1mb"}, 64 * MiB, 1 << 30)
    assert limits.maxmemory_clients_bytes == 129 * MiB + BACKPRESSURE_BYTES
    assert from_settings({**DEFAULTS, "maxmemory-clients": "0"}, 64 * MiB, 1 << 30).maxmemory_clients_bytes == 0


def test_output_limits_set_the_back_pressure_mark_above_them():
    limits = from_settings({**DEFAULTS, "client-output-buffer-limit": "normal 10mb 5mb 10"}, 64 * MiB, 1 << 30)
    assert limits.normal == OutputLimit(10 * MiB, 5 * MiB, 10)
    assert limits.normal.high_water_bytes == 10 * MiB + 1


def test_output_limit_hard_and_soft():
    limit = OutputLimit(10, 5, 2)
    assert limit.over(11, None, 0.0) == (True, None)
    assert limit.over(6, None, 100.0) == (False, 100.0)
    assert limit.over(6, 100.0, 102.0) == (False, 100.0)
    assert limit.over(6, 100.0, 102.5) == (True, 100.0)
    assert limit.over(4, 100.0, 103.0) == (False, None)


def test_config_values_are_checked_and_merged_as_redis():
    assert settings.validate("client-query-buffer-limit", "2mb") == str(2 * MiB)
    with pytest.raises(settings.SettingError):
        settings.validate("client-query-buffer-limit", "1000")
    assert settings.merge_output_limits(settings.DEFAULT_OUTPUT_LIMITS, "replica 1mb 1mb 1") == \
        "normal 0 0 0 slave 1048576 1048576 1 pubsub 33554432 8388608 60"
    for bad in ("normal 1 2", "nobody 0 0 0", "normal 1 2 x", "normal 1 2 -1"):
        with pytest.raises(settings.SettingError):
            settings.validate("client-output-buffer-limit", bad)
    assert settings.validate("maxmemory-clients", "10%") == "10%"
    with pytest.raises(settings.SettingError):
        settings.validate("maxmemory-clients", "101%")


def test_limits_validate():
    with pytest.raises(Exception):
        ClientLimits(query_buffer_bytes=10).validate()
