"""raft_wire.stored_zlib: the zlib stream every Raft message is sent in, written without
zlib's per-call deflate set-up, must inflate to the message as zlib.compress's did (PySyncObj's
receivers, older releases included, call zlib.decompress)."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from raftcache.node.raft.raft_wire import stored_zlib


def _inflates_to(stream: bytes, data: bytes) -> bool:
    inflater = zlib.decompressobj()
    return inflater.decompress(stream) == data and inflater.eof and not inflater.unused_data


def test_every_length_around_a_stored_blocks_limit_inflates_whole():
    for n in (0, 1, 0xFFFE, 0xFFFF, 0x10000, 2 * 0xFFFF, 2 * 0xFFFF + 1, 1 << 20):
        data = bytes(i * 7 % 251 for i in range(n))
        assert _inflates_to(stored_zlib(data), data), n
        assert zlib.decompress(stored_zlib(data)) == data


@given(st.binary(max_size=3000))
def test_any_message_inflates_whole_and_is_not_larger_than_zlibs_stored_form(data):
    stream = stored_zlib(data)
    assert _inflates_to(stream, data)
    assert len(stream) <= len(zlib.compress(data, 0))
