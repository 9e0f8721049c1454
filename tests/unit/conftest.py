"""Fixtures shared by the unit tests."""

from __future__ import annotations

import asyncio

import pytest

from raftcache.node import pulse
from raftcache.node.commands import script_read_cache
from tests.unit.resp_fakes import Client, FakeService, cmd
from tests.unit.test_statemachine import Node


@pytest.fixture
def service(tmp_path):
    """A FakeService (resp_fakes.py): the front ends' service over a real state machine, no Raft."""
    s = FakeService(str(tmp_path / "ks"))
    yield s
    s.close()


@pytest.fixture
def r(tmp_path):
    """Call the RESP front end with raw bytes: r("SET", "k", "v") -> b"+OK\\r\\n"."""
    service = FakeService(str(tmp_path / "ks"))
    client = Client(service)

    def call(*args) -> bytes:
        return asyncio.run(client.send(cmd(*args)))

    yield call
    service.close()


@pytest.fixture
def node(tmp_path):
    """A state machine on a temporary LMDB fed encoded entries (test_statemachine.Node), for the
    script tests; the process's own cache of scripts run as reads is forgotten after. A module
    that needs another `node` defines its own."""
    yield Node(str(tmp_path / "a"))
    script_read_cache.forget()


@pytest.fixture
def beats(monkeypatch):
    """The beats long work gives (node/pulse.py), every one counted while the test runs."""
    seen = []
    monkeypatch.setattr(pulse, "CHECK_EVERY_S", 0.0)
    monkeypatch.setattr(pulse, "_next_check", 0.0)
    pulse.install(lambda: seen.append(1))
    yield seen
    pulse.install(None)
