"""The generated raftcache.proto modules match their .proto sources."""

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_modules_are_fresh():
    pytest.importorskip("grpc_tools")
    stale = _gen_proto().stale_files()
    assert stale == [], f"regenerate with `python scripts/gen_proto.py`: stale {stale}"


def test_generated_modules_import_under_the_raftcache_namespace():
    from raftcache.proto import admin_pb2, cache_pb2, commands_pb2  # noqa: F401 - importing them is the test

    assert "commands_pb2" not in sys.modules, "generated code must not import bare top-level modules"
