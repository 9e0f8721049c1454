"""Redis glob patterns (KEYS, SCAN MATCH, HSCAN/SSCAN/ZSCAN MATCH, PSUBSCRIBE, ACL key and
channel patterns, COMMAND LIST FILTERBY PATTERN) on bytes.

Follows Redis's stringmatchlen(): `*`, `?`, `[...]` classes with ranges and
`^` negation, and backslash escapes. A pattern is compiled once (`Glob`, kept by
compile_glob; a subscribed one by node/service/pubsub.py) and matched against many
strings: a long pattern used to be parsed again for every key, channel or command name
it was matched against (a 900 KB pattern held a node for tens of seconds). Pure
functions; no I/O.
"""

from __future__ import annotations

import functools
import re


_STAR, _ANY = "*", "?"
#: The bytes that are not literal in a glob (a literal run ends at the next one).
_SPECIAL = re.compile(rb"[*?\[\\]")
#: Patterns up to this long are kept compiled (an LRU of SMALL_CACHED); longer ones, only the
#: last BIG_CACHED. A compiled pattern holds at most ~10 bytes per byte of it (a pointer per
#: token; equal classes share one mask), so the caches hold at most ~10 MB and ~40 MB of
#: patterns as long as a client's request (1 MB).
SMALL_PATTERN_BYTES = 4 << 10
SMALL_CACHED = 256
BIG_CACHED = 4


_ALL_BYTES = (1 << 256) - 1
#: One-byte literal runs share these 256 objects (bytes(bytearray) would make a new one each).
_BYTE = [bytes((c,)) for c in range(256)]


def _flush(tokens: list, literal: bytearray) -> None:
    """End the literal run under way (if any) as a token."""
    if literal:
        tokens.append(_BYTE[literal[0]] if len(literal) == 1 else bytes(literal))
        literal.clear()


def _class_mask(negate: bool, singles: set[int], ranges: list[tuple[int, int]]) -> int:
    """A `[...]` class as an int whose bit c says whether it matches byte c (negation applied)."""
    mask = 0
    for c in singles:
        mask |= 1 << c
    for lo, hi in ranges:
        mask |= ((1 << (hi - lo + 1)) - 1) << lo
    return mask ^ _ALL_BYTES if negate else mask


def _glob_tokens(pattern: bytes) -> list:
    """Parse a Redis glob into tokens, following stringmatchlen() in util.c.

    _STAR any run (consecutive stars are one); _ANY one byte; bytes a literal run; an int
    the bytes a class matches (_class_mask). `\\x` is a literal x (a trailing backslash is
    literal); inside a class `\\` escapes too, `a-z` is a range (reversed ends are swapped)
    and an unterminated class ends the pattern. Literal runs are found by one regex search.
    """
    tokens: list = []
    classes: dict[bytes, int] = {}   # equal classes share one mask
    literal = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:                                   # *
            i += 1
            _flush(tokens, literal)
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
        elif c == 0x3F:                                 # ?
            i += 1
            _flush(tokens, literal)
            tokens.append(_ANY)
        elif c == 0x5B:                                 # [
            start = i
            i += 1
            _flush(tokens, literal)
            negate = i < n and pattern[i] == 0x5E       # ^
            if negate:
                i += 1
            singles: set[int] = set()
            ranges: list[tuple[int, int]] = []
            while i < n:
                c = pattern[i]
                if c == 0x5C and i + 1 < n:             # \ escapes inside a class
                    singles.add(pattern[i + 1])
                    i += 2
                elif c == 0x5D:                         # ]
                    i += 1
                    break
                elif i + 2 < n and pattern[i + 1] == 0x2D:   # a-z
                    lo, hi = sorted((c, pattern[i + 2]))
                    ranges.append((lo, hi))
                    i += 3
                else:
                    singles.add(c)
                    i += 1
            text = pattern[start:i]
            found = classes.get(text)
            if found is None:
                found = classes[text] = _class_mask(negate, singles, ranges)
            tokens.append(found)
        elif c == 0x5C and i + 1 < n:                   # \x
            literal.append(pattern[i + 1])
            i += 2
        else:
            found = _SPECIAL.search(pattern, i + 1)
            end = found.start() if found else n
            literal += pattern[i:end]
            i = end
    _flush(tokens, literal)
    return tokens


class Glob:
    """A compiled Redis glob: match() costs what the string and the pattern's tokens need,
    never a parse; a string shorter than the pattern's fixed part fails at once."""

    __slots__ = ("empty", "tokens", "min_len", "starred")

    def __init__(self, pattern: bytes):
        self.empty = not pattern
        self.tokens = tuple(_glob_tokens(pattern))
        self.starred = _STAR in self.tokens
        self.min_len = sum(len(t) if type(t) is bytes else 1 for t in self.tokens if t is not _STAR)

    def match(self, string: bytes) -> bool:
        """Redis glob matching: `*`, `?`, `[...]`, `[^...]`, `[a-z]`, `\\` escapes.

        Backtracking over the last `*` only (O(len(pattern) * len(string)), no recursion).
        Like Redis, an empty string matches only an empty pattern.
        """
        n = len(string)
        if not n:
            return self.empty
        if n < self.min_len or (n != self.min_len and not self.starred):
            return False
        tokens = self.tokens
        count = len(tokens)
        t = s = 0
        star_t, star_s = -1, 0
        while s < n:
            if t < count:
                token = tokens[t]
                if token is _STAR:
                    star_t, star_s = t, s
                    t += 1
                    continue
                kind = type(token)
                if kind is bytes:
                    if string.startswith(token, s):
                        t += 1
                        s += len(token)
                        continue
                elif token is _ANY:
                    t += 1
                    s += 1
                    continue
                elif token >> string[s] & 1:   # a class's mask
                    t += 1
                    s += 1
                    continue
            if star_t < 0:
                return False
            star_s += 1
            s = star_s
            t = star_t + 1
        while t < count and tokens[t] is _STAR:
            t += 1
        return t == count


@functools.lru_cache(maxsize=SMALL_CACHED)
def _compile_small(pattern: bytes) -> Glob:
    return Glob(pattern)


_big: dict[bytes, Glob] = {}


def compile_glob(pattern: bytes) -> Glob:
    """The compiled `pattern`, kept for the calls that follow (a SCAN step, a PUBLISH, a
    COMMAND LIST match it against many strings: each parse of a long pattern used to be
    paid once per string)."""
    if len(pattern) <= SMALL_PATTERN_BYTES:
        return _compile_small(pattern)
    glob = _big.get(pattern)
    if glob is None:
        if len(_big) >= BIG_CACHED:
            _big.clear()   # (one step, safe should two threads match at once)
        glob = _big[pattern] = Glob(pattern)
    return glob


def glob_match(pattern: bytes, string: bytes) -> bool:
    """Redis glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, COMMAND LIST FILTERBY PATTERN)."""
    return compile_glob(pattern).match(string)


# ---------------------------------------------------------------- transactions
