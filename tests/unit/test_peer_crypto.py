"""The Raft peer-message cipher: round trip, tampering, wrong secret, timestamps."""

import pytest

from raftcache.node.raft.peer_crypto import PeerCipher, PeerCipherError


def test_round_trip_and_timestamp():
    cipher = PeerCipher("cluster secret")
    token = cipher.encrypt_at_time(b"append entries", 1234)
    assert cipher.extract_timestamp(token) == 1234
    assert cipher.decrypt(token) == b"append entries"
    assert b"append entries" not in token


def test_each_token_uses_a_fresh_nonce():
    cipher = PeerCipher("s")
    assert cipher.encrypt_at_time(b"m", 1) != cipher.encrypt_at_time(b"m", 1)


@pytest.mark.parametrize("position", [0, 5, 12, 25, -1])
def test_any_flipped_byte_is_rejected(position):
    cipher = PeerCipher("s")
    token = bytearray(cipher.encrypt_at_time(b"payload", 99))
    token[position] ^= 0x01
    with pytest.raises(PeerCipherError):
        cipher.decrypt(bytes(token))


def test_a_timestamp_cannot_be_rewritten():
    cipher = PeerCipher("s")
    token = cipher.encrypt_at_time(b"payload", 5)
    forged = token[:1] + (10).to_bytes(8, "big") + token[9:]
    assert cipher.extract_timestamp(forged) == 10
    with pytest.raises(PeerCipherError):
        cipher.decrypt(forged)


def test_another_clusters_secret_cannot_read_or_forge():
    token = PeerCipher("ours").encrypt_at_time(b"payload", 1)
    with pytest.raises(PeerCipherError, match="wrong cluster secret"):
        PeerCipher("theirs").decrypt(token)


@pytest.mark.parametrize("garbage", [b"", b"\x01short", b"\x02" + b"x" * 40])
def test_garbage_is_rejected(garbage):
    with pytest.raises(PeerCipherError):
        PeerCipher("s").decrypt(garbage)
