"""RESP wire format, requests: the parser of what clients send (multibulk and inline).

Owns bytes only: no commands, no service. The parser follows Redis's own
networking.c (processMultibulkBuffer / processInlineBuffer) so malformed
input gets the same `-ERR Protocol error: …` replies, at the same points,
and closes the connection where Redis does. hiredis was measured and not
used for requests: it is a *reply* parser (it accepts nested arrays and
every RESP type, which a server must refuse), it cannot parse inline
commands, and its errors differ from Redis's; the hot path here is a few
`bytes.find` calls per argument, and a packet of whole frames (or of nothing
but GETs) is split without the incremental parser (`whole_frames`,
`only_gets`). `split_args` splits a line as Redis's sdssplitargs does.
Replies are encoded in resp_protocol.py.
"""

from __future__ import annotations

import re

PROTO_INLINE_MAX_SIZE = 64 * 1024       # Redis's limit for an inline line or a count line
PROTO_MAX_MULTIBULK = 1024 * 1024       # Redis refuses larger argument counts (INT_MAX in 7.x, 1M in 6.x)
UNAUTH_MAX_MULTIBULK = 10               # before AUTH, as in Redis 7
UNAUTH_MAX_BULK = 16384
ARG_OVERHEAD_BYTES = 48                 # a parsed argument's memory beyond its bytes (CPython's bytes object)


class ProtocolError(Exception):
    """Malformed input: reply `-ERR Protocol error: <message>` and close."""


class RequestParser:
    """Incremental parser of client requests (multibulk or inline).

    feed() bytes, then parse() returns every complete command (a list of
    bytes arguments) in order. A malformed frame raises ProtocolError from
    parse() *after* the commands before it have been returned by an earlier
    call: parse() returns what it has first and raises on the next call.
    """

    __slots__ = ("buf", "max_bulk_bytes", "authenticated", "_args", "_argbytes", "_remaining", "_bulklen", "_error")

    def __init__(self, max_bulk_bytes: int = 512 << 20):
        self.buf = bytearray()
        self.max_bulk_bytes = max_bulk_bytes
        self.authenticated = True
        self._args: list[bytes] | None = None  # the multibulk being read
        self._argbytes = 0                      # memory of its arguments so far (ARG_OVERHEAD_BYTES each)
        self._remaining = 0
        self._bulklen = -1
        self._error: str | None = None

    def feed(self, data: bytes) -> None:
        self.buf += data

    @property
    def pending_bytes(self) -> int:
        return len(self.buf)

    @property
    def idle(self) -> bool:
        """No command is partly received (nothing buffered, no multibulk under way): the next
        bytes start a new command."""
        return not self.buf and self._args is None

    @property
    def unfinished_bytes(self) -> int:
        """Memory held for the command still being received: its arguments read so far and
        the unparsed input (Redis's query buffer; after parse() the buffer holds no complete command)."""
        return self._argbytes + len(self.buf)

    def parse(self) -> list[list[bytes]]:
        if self._error is not None:
            raise ProtocolError(self._error)
        buf = self.buf
        out: list[list[bytes]] = []
        pos = 0
        try:
            while pos < len(buf):
                if self._args is None:
                    if buf[pos] == 42:  # '*'
                        pos = self._start_multibulk(buf, pos)
                        if pos < 0:
                            pos = -pos - 1
                            break
                        if self._args is None:
                            continue  # *0 or *-1: nothing to run
                    else:
                        args, pos = self._inline(buf, pos)
                        if args is None:
                            break
                        if args:
                            out.append(args)
                        continue
                pos, done = self._bulks(buf, pos)
                if not done:
                    break
                out.append(self._args)
                self._args = None
                self._argbytes = 0
        except ProtocolError as e:
            self._error = str(e)
            del buf[:]
            if out:
                return out
            raise
        if pos:
            del buf[:pos]
        return out

    # -- multibulk

    def _start_multibulk(self, buf: bytearray, pos: int) -> int:
        nl = buf.find(b"\r", pos)
        if nl < 0 or nl + 1 >= len(buf):
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("too big mbulk count string")
            return -pos - 1
        n = _to_int(buf[pos + 1 : nl])
        if n is None or n > PROTO_MAX_MULTIBULK:
            raise ProtocolError("invalid multibulk length")
        if n > UNAUTH_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError("unauthenticated multibulk length")
        pos = nl + 2
        if n > 0:
            self._args = []
            self._remaining = n
            self._bulklen = -1
        return pos

    def _bulks(self, buf: bytearray, pos: int) -> tuple[int, bool]:
        args = self._args
        end = len(buf)
        while self._remaining:
            if self._bulklen < 0:
                nl = buf.find(b"\r", pos)
                if nl < 0 or nl + 1 >= end:
                    if end - pos > PROTO_INLINE_MAX_SIZE:
                        raise ProtocolError("too big bulk count string")
                    return pos, False
                if buf[pos] != 36:  # '$'
                    # the byte as Redis shows it (its error replies turn CR and LF into spaces)
                    raise ProtocolError(f"expected '$', got '{chr(buf[pos]) if buf[pos] not in (10, 13) else ' '}'")
                n = _to_int(buf[pos + 1 : nl])
                if n is None or n < 0 or n > self.max_bulk_bytes:
                    raise ProtocolError("invalid bulk length")
                if n > UNAUTH_MAX_BULK and not self.authenticated:
                    raise ProtocolError("unauthenticated bulk length")
                pos = nl + 2
                self._bulklen = n
            n = self._bulklen
            if end - pos < n + 2:
                return pos, False
            args.append(bytes(buf[pos : pos + n]))
            self._argbytes += n + ARG_OVERHEAD_BYTES
            pos += n + 2  # like Redis, the two bytes after the payload are not checked
            self._bulklen = -1
            self._remaining -= 1
        return pos, True

    # -- inline

    def _inline(self, buf: bytearray, pos: int) -> tuple[list[bytes] | None, int]:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return None, pos
        line = bytes(buf[pos:nl])
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args, nl + 1


LONE_FRAME_MAX_ARGS = 64
#: GET key, INCR key, TTL key, DEL key …: the commonest frame, its name and its argument's size
_THREE_LETTERS_ONE_ARGUMENT = re.compile(rb"\*2\r\n\$3\r\n(...)\r\n\$(0|[1-9][0-9]{0,9})\r\n", re.DOTALL)


#: what each frame of a read that is nothing but GETs starts with
_GET_FRAME_START = b"*2\r\n$3\r\n"
_BULK_HEADER = b"$%d".__mod__
_ONE_GET = re.compile(rb"\*2\r\n\$3\r\n(...)\r\n\$(0|[1-9][0-9]{0,9})\r\n(.*)\r\n", re.DOTALL)


def only_gets(data: bytes, max_bulk_bytes: int) -> tuple[list[bytes], list[bytes]] | None:
    """(names as sent, keys) when `data` is nothing but complete `GET key` frames, else None.

    The commonest read of a cache's socket (one GET at -P 1, a pipeline of them
    at -P 16), taken apart by one split and C-level checks instead of a frame at
    a time: every frame is exactly `*2`, `$3`, a GET in any case, `$<length>`
    (no leading zero), a key of that length (holding no CR LF, unless it is the
    only frame), at most `max_bulk_bytes` long. Anything else returns None and
    goes the general way (whole_frames, then RequestParser). As whole_frames,
    the caller checks the parser is idle. Keys over the keyspace's own limit
    are the caller's to refuse.
    """
    if not data.startswith(_GET_FRAME_START) or data[8:11].lower() != b"get":
        return None
    one = _ONE_GET.fullmatch(data)   # -P 1: one frame, or its key would run into the next
    if one is not None and int(one.group(2)) == len(one.group(3)):
        return ([one.group(1)], [one.group(3)]) if len(one.group(3)) <= max_bulk_bytes else None
    parts = data.split(b"\r\n")
    count = len(parts) // 5
    if len(parts) != 5 * count + 1 or parts[-1]:
        return None
    keys = parts[4::5]
    names = parts[2::5]
    if (parts[0::5].count(b"*2") != count or parts[1::5].count(b"$3") != count
            or list(map(_BULK_HEADER, map(len, keys))) != parts[3::5]
            or names.count(b"GET") != count and any(name.lower() != b"get" for name in names)
            or max(map(len, keys), default=0) > max_bulk_bytes):
        return None
    return names, keys


_SET_HEAD = re.compile(rb"\*3\r\n\$3\r\n(...)\r\n\$(0|[1-9][0-9]{0,9})\r\n", re.DOTALL)
_BULK_HEAD = re.compile(rb"\r\n\$(0|[1-9][0-9]{0,9})\r\n")


def leading_sets(data: bytes, max_bulk_bytes: int) -> tuple[list[list[bytes]], int]:
    """The complete `SET key value` frames `data` starts with ([name as sent, key, value] each)
    and the position after them: two matches and the lengths each frame gives, instead of a
    frame parse (binary-safe: a key or value that looks like a header is split by its length);
    the rest, if any, is whole_frames' from that position."""
    frames: list[list[bytes]] = []
    if max_bulk_bytes < 3:   # (the name itself is over the limit: the parser refuses it)
        return frames, 0
    pos, end = 0, len(data)
    while pos < end:
        head = _SET_HEAD.match(data, pos)
        if head is None or head.group(1).lower() != b"set":
            break
        key_start = head.end()
        key_end = key_start + int(head.group(2))
        middle = _BULK_HEAD.match(data, key_end)
        if middle is None:
            break
        value_start = middle.end()
        value_end = value_start + int(middle.group(1))
        if (data[value_end:value_end + 2] != b"\r\n" or key_end - key_start > max_bulk_bytes
                or value_end - value_start > max_bulk_bytes):
            break
        frames.append([head.group(1), data[key_start:key_end], data[value_start:value_end]])
        pos = value_end + 2
    return frames, pos


def whole_frames(data: bytes, max_bulk_bytes: int, start: int = 0) -> list[list[bytes]] | None:
    """The commands when `data` (from `start`) is nothing but complete multibulk frames, else None.

    The hot path of clients whose every read from the socket is whole commands
    (one at -P 1, a pipeline at -P 16): such frames need no parser state (the
    caller checks the parser is `idle`: a read that is the rest of a command, a
    value sent apart from its header, is never taken for commands). Anything unusual (a frame of
    more than LONE_FRAME_MAX_ARGS arguments, a partial or malformed one, an
    inline command, a bulk over `max_bulk_bytes`) returns None and goes
    through RequestParser, which gives Redis's errors.
    """
    frames = []
    pos, end = start, len(data)
    while pos < end:
        got = _frame_at(data, pos, max_bulk_bytes)
        if got is None:
            return None
        args, pos = got
        frames.append(args)
    return frames


def _frame_at(data: bytes, pos: int, max_bulk_bytes: int) -> tuple[list[bytes], int] | None:
    """(arguments, the position after it) of the complete, well-formed frame at `pos`, or None."""
    common = _THREE_LETTERS_ONE_ARGUMENT.match(data, pos)
    if common is not None:   # the commonest shape, in one match instead of the loop
        start = common.end()
        end = start + int(common.group(2))
        if end - start <= max_bulk_bytes and data[end:end + 2] == b"\r\n":
            return [common.group(1), data[start:end]], end + 2
        return None
    if data[pos:pos + 1] != b"*":
        return None
    find = data.find
    nl = find(b"\r\n", pos + 1)
    count = data[pos + 1:nl]
    if nl < 0 or not count.isdigit() or len(count) > 2 or count[:1] == b"0":
        return None
    count = int(count)
    if not 0 < count <= LONE_FRAME_MAX_ARGS:
        return None
    args = []
    pos = nl + 2
    for _ in range(count):
        nl = find(b"\r\n", pos)
        size = data[pos + 1:nl]
        if (data[pos:pos + 1] != b"$" or nl < 0 or not size.isdigit() or len(size) > 10
                or size[:1] == b"0" and len(size) > 1):   # leading zeros: the parser refuses them
            return None
        start = nl + 2
        pos = start + int(size)
        if pos - start > max_bulk_bytes or data[pos:pos + 2] != b"\r\n":
            return None
        args.append(data[start:pos])
        pos += 2
    return args, pos


def _to_int(text) -> int | None:
    """Redis's string2ll: "0", or an optional '-' and digits not starting with 0 (no spaces,
    '+', leading zeros or "-0"), at most 20 chars."""
    if not text or len(text) > 20:
        return None
    t = bytes(text)
    digits = t[1:] if t[:1] == b"-" else t
    if digits.isdigit() and (digits[:1] != b"0" or t == b"0"):
        return int(t)
    return None


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"


#: What separates words in sdssplitargs (isspace, and NUL), and may follow a closing quote.
_SEPARATORS = b" \n\r\t\v\f\0"


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: whitespace-separated words with "..." and '...' quoting; None if unbalanced."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SEPARATORS:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq or insq:
                if i >= n:
                    return None
                ch = line[i]
                if inq and ch == 92 and i + 3 < n and line[i + 1] == ord("x") and line[i + 2] in _HEX \
                        and line[i + 3] in _HEX:
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif inq and ch == 92 and i + 1 < n:
                    i += 1
                    cur += _ESCAPES.get(line[i], bytes([line[i]]))
                elif insq and ch == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif ch == (34 if inq else 39):   # the closing quote: a separator (or the end) follows
                    if i + 1 < n and line[i + 1] not in _SEPARATORS:
                        return None
                    i += 1
                    break
                else:
                    cur.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch in b" \n\r\t\0":
                    i += 1
                    break
                if ch == 34:
                    inq = True
                elif ch == 39:
                    insq = True
                else:
                    cur.append(ch)
            i += 1
        args.append(bytes(cur))
