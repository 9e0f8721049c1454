"""memcached's text-protocol authentication (memcached 1.6 `-Y`), against the ACL users.

While a connection of the memcached port is not authenticated (the cluster
needs a password: node/service/identity.py), the only request that does more
than `CLIENT_ERROR unauthenticated` is memcached's auth `set`: any key, and a
value `username password`; `STORED` logs the connection in as that ACL user
(every later request is checked against the user's rules, as the Redis
command it is), `CLIENT_ERROR authentication failure` does not. `version`
and `quit` are answered too. `--memcached-auth no` turns this off: the port
then serves everyone as the default user, password or not.
"""

from __future__ import annotations

from raftcache.node.service.identity import AuthError

UNAUTHENTICATED = b"CLIENT_ERROR unauthenticated\r\n"
FAILURE = b"CLIENT_ERROR authentication failure\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad authentication token format\r\n"
BAD_TERMINATION = b"CLIENT_ERROR bad command line termination\r\n"
#: Longest auth value read (a username, a space, a password).
MAX_TOKEN_BYTES = 4096


def needs_login(conn) -> bool:
    return conn.session.user is None and conn.state.config.memcached_auth == "yes"


def request(conn, name: bytes, tokens: list[bytes], line_end: int) -> bytes | None:
    """Answer one request (not `quit`) of an unauthenticated connection: its reply, or None
    when the auth value has not all arrived. Consumes what it answers."""
    buf = conn._buf
    if name == b"set" and len(tokens) >= 5 and tokens[4].isdigit() and int(tokens[4]) <= MAX_TOKEN_BYTES:
        size = int(tokens[4])
        if len(buf) - line_end < size + 2:
            return None
        value = bytes(buf[line_end:line_end + size])
        terminated = buf[line_end + size:line_end + size + 2] == b"\r\n"
        del buf[:line_end + size + 2]
        if not terminated:
            return BAD_TERMINATION
        words = value.split()
        if len(words) < 2:
            return BAD_FORMAT
        try:
            conn.session.user = conn.service.identity.authenticate(words[0], b" ".join(words[1:]),
                                                                 conn.session.client_info())
        except AuthError:
            return FAILURE
        # memcached answers STORED even to `noreply`; a client that asked for none would then
        # read it as the next reply (pymemcache's set is noreply by default): honour it.
        return b"" if tokens[-1] == b"noreply" else b"STORED\r\n"
    del buf[:line_end]
    if name == b"version":
        return b"VERSION " + conn.version + b"\r\n"
    return UNAUTHENTICATED
