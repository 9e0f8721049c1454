"""What a script gets from the libraries written in Python is only ever a Lua value: no Python
object (msgpack's Timestamp, decoded from extension type -1, once handed a script the whole
process through its attributes), no key Lua refuses inside lupa (a NaN key froze every thread
of the node for good), no integer lupa cannot convert (a Python error text). Every log version:
these were holes, not semantics."""

from __future__ import annotations

import json
import subprocess
import sys

import msgpack
import pytest

from raftcache.node import commands, scripting
from raftcache.node.scripting.sandbox import Sandbox
from tests.unit.test_script_copies import ROOT, _CHILD
from tests.unit.test_scripting import run

scripting.install()

VERSIONS = [commands.MAX_VERSION, commands.SCRIPT_ERRORS_VERSION, commands.SCRIPT_COMPAT_VERSION]
#: cmsgpack's extension type -1 (a timestamp: 1 second)
TIMESTAMP = r"'\214\255\0\0\0\1'"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_decoded_extension_type_is_nil_never_a_python_object(node, version):
    body = (f"local ts = cmsgpack.unpack({TIMESTAMP}) "
            f"local n, tail = cmsgpack.unpack_limit({TIMESTAMP} .. '\\1', 1) "
            "return {type(ts), type(tail), n}")
    assert run(node, body, version=version) == [b"nil", b"nil", 6]


def test_python_objects_have_no_fields_in_the_runtime():
    """Defence in depth: were a Python object to reach a script, its attributes stay shut."""
    reach = Sandbox.for_thread().lua.eval(
        "function(o) local ok, e = pcall(function() return o.__class__ end) "
        "local set = pcall(function() o.seconds = 2 end) return ok, e, set end")
    ok, error, set_ok = reach(msgpack.Timestamp(1, 0))
    assert (ok, set_ok) == (False, False) and "no fields" in str(error)


@pytest.mark.parametrize("version", VERSIONS)
def test_integers_past_64_bits_decode_as_lua_numbers(node, version):
    body = ("return {tostring(cjson.decode('1' .. string.rep('0', 30))), "
            r"tostring(cmsgpack.unpack('\207\255\255\255\255\255\255\255\255')), "
            "tostring(cjson.decode('[-9223372036854775809]')[1])}")
    assert run(node, body, version=version) == [b"1e+30", b"1.844674407371e+19", b"-9.2233720368548e+18"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_nan_key_is_luas_error_and_never_hangs_the_node(version):
    """A map with a NaN key (float64, float32; caught by pcall or not): Lua's own `table index
    is NaN`, as lua-cmsgpack raises it. Run in a child process: the code before froze every
    thread of the process for good."""
    bodies = [r"return cmsgpack.unpack('\129\203\127\248\0\0\0\0\0\0\1')",
              r"local ok, e = pcall(cmsgpack.unpack, '\129\202\127\192\0\0\1') return {tostring(ok), e}",
              r"return cmsgpack.unpack('\130\1\2\192\3')"]   # a nil key is dropped, as before
    child = subprocess.run([sys.executable, "-c", _CHILD, str(version)], input=json.dumps(bodies), text=True,
                           capture_output=True, timeout=60, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-2000:]
    unpacked, caught, nil_key = json.loads(child.stdout)
    assert unpacked.startswith("ERR table index is NaN")
    assert caught == str([b"false", b"table index is NaN"])
    assert nil_key == str([2])
