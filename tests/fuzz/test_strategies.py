"""The fuzzer's generated Lua is what it claims to be: its string literals read back as the bytes
they encode, and its scripts compile in the real sandbox (a generator whose scripts never parse
would exercise nothing but the compiler's error path)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raftcache.node.scripting.sandbox import Sandbox
from scripts.fuzz import strategies


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_a_lua_literal_reads_back_as_its_bytes(data):
    box = Sandbox.for_thread()
    chunk, error = box.compile("literal", f"return {strategies.lua_string(data)}".encode())
    assert error is None
    assert box.m.run_chunk(1000, chunk, None, box.lua.table(), box.lua.table())[2] == data   # (Lua tables: KEYS, ARGV)


@settings(max_examples=200, deadline=None)
@given(strategies.lua_body())
def test_generated_scripts_compile(body):
    chunk, error = Sandbox.for_thread().compile("generated", body.encode())
    assert error is None, (body, error)
