"""Redis glob patterns (KEYS, SCAN MATCH, HSCAN/SSCAN/ZSCAN MATCH) on bytes.

Follows Redis's stringmatchlen(): `*`, `?`, `[...]` classes with ranges and
`^` negation, and backslash escapes. Pure functions; no I/O.
"""

from __future__ import annotations


def _glob_tokens(pattern: bytes) -> list[tuple]:
    """Parse a Redis glob into tokens, following stringmatchlen() in util.c.

    ("*",) any run; ("?",) one byte; ("=", c) a literal byte;
    ("[", negate, singles, ranges) a class. `\\x` is a literal x (a trailing
    backslash is literal); inside a class `\\` escapes too, `a-z` is a range
    (reversed ends are swapped) and an unterminated class ends the pattern.
    """
    tokens: list[tuple] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:                                   # *
            if not tokens or tokens[-1] != ("*",):
                tokens.append(("*",))
            i += 1
        elif c == 0x3F:                                 # ?
            tokens.append(("?",))
            i += 1
        elif c == 0x5B:                                 # [
            i += 1
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
            tokens.append(("[", negate, frozenset(singles), tuple(ranges)))
        elif c == 0x5C and i + 1 < n:                   # \x
            tokens.append(("=", pattern[i + 1]))
            i += 2
        else:
            tokens.append(("=", c))
            i += 1
    return tokens


def _token_matches(token: tuple, c: int) -> bool:
    kind = token[0]
    if kind == "?":
        return True
    if kind == "=":
        return token[1] == c
    hit = c in token[2] or any(lo <= c <= hi for lo, hi in token[3])
    return hit != token[1]


def glob_match(pattern: bytes, string: bytes) -> bool:
    """Redis glob matching (KEYS, SCAN MATCH): `*`, `?`, `[...]`, `[^...]`, `[a-z]`, `\\` escapes.

    Linear backtracking over the last `*` (O(len(pattern) * len(string)), no
    recursion). Like Redis, an empty string matches only an empty pattern.
    """
    if not string:
        return not pattern
    tokens = _glob_tokens(pattern)
    t = s = 0
    star_t, star_s = -1, 0
    while s < len(string):
        if t < len(tokens) and tokens[t] == ("*",):
            star_t, star_s = t, s
            t += 1
        elif t < len(tokens) and _token_matches(tokens[t], string[s]):
            t += 1
            s += 1
        elif star_t >= 0:
            star_s += 1
            s = star_s
            t = star_t + 1
        else:
            return False
    while t < len(tokens) and tokens[t] == ("*",):
        t += 1
    return t == len(tokens)


# ---------------------------------------------------------------- transactions
