"""Prefixed, time-sortable identifiers: ``ord_01JD...``, ``evt_...``, ``key_...``.

The body is a ULID (48-bit millisecond time, 80 random bits, Crockford base32), so ids sort by
creation time, which makes them usable as pagination cursors and index-friendly in both databases.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
_BODY = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # ULID_LENGTH characters of _ALPHABET
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> two characters
_PAIR_SHIFTS = range(ULID_LENGTH * 5 - 10, -1, -10)  # 130 bits, most significant pair first
_TIME_LENGTH = 10  # characters of the time part (50 bits, the top two 0)

# Randomness is read ahead, 16 bytes an id, and each byte is a character by its low five bits
# (256 is 8 x 32: each character equally likely): 80 random bits, no arithmetic on them.
_RANDOM_BYTES = ULID_LENGTH - _TIME_LENGTH
_STEM_RANDOM = _RANDOM_BYTES - 1  # random characters before the last: 75 bits
_RANDOM_CHUNK = _RANDOM_BYTES * 256  # bytes read at once: 256 ids per getrandom call
_FIVE_BITS = (_ALPHABET * 8).encode("ascii")  # bytes.translate's table: a byte -> its character
_AS_DIGITS = str.maketrans(_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTUV")  # for int(..., 32)
_NS_PER_MS = 1_000_000


class _Monotonic:
    """Within one process, each ULID is greater than the one before, even in the same
    millisecond: the random part is incremented instead of drawn again. It is kept as the
    id's first 25 characters (:attr:`stem`) and the index of its last (:attr:`last`), so an
    increment is an addition to a small integer, and a carry (one in 32) recomputes the stem.

    One per process (:data:`_STATE`): its fields change with every id, so they are an
    instance's, not the class's (setting a class attribute invalidates the interpreter's
    attribute caches for the class, and every id then looked its fields up the slow way)."""

    __slots__ = ("high", "last", "last_ms", "next_ns", "pool", "stem", "taken", "text", "top")

    def __init__(self) -> None:
        self.last_ms = 0
        self.next_ns = 0  # the first nanosecond after the millisecond :attr:`last_ms`
        self.stem = ""
        self.last = 0
        self.high = -1  # the milliseconds above their low 20 bits that :attr:`top` encodes
        self.top = ""  # the time part's first six characters (30 bits), reused for 17 minutes
        self.pool = b""  # randomness read ahead; a forked child must not reuse its parent's
        self.text = ""  # the pool's bytes as characters
        self.taken = _RANDOM_CHUNK

    @staticmethod
    def forget() -> None:
        """In a forked child: neither the parent's randomness read ahead nor its place in the
        current millisecond (the parent's next id would be the same as the child's)."""
        _STATE.pool, _STATE.text, _STATE.taken = b"", "", _RANDOM_CHUNK
        _STATE.next_ns = 0


_STATE = _Monotonic()
os.register_at_fork(after_in_child=_Monotonic.forget)


def new_id(prefix: str) -> str:
    """A new id such as ``ord_01JD3W6Q9R...``."""
    state = _STATE
    ns = time.time_ns()
    if ns < state.next_ns:  # the millisecond of the last id, or earlier: its successor
        last = state.last + 1
        if last < 32:
            state.last = last
            return f"{prefix}_{state.stem}{_ALPHABET[last]}"
        _carry(state)
        return f"{prefix}_{state.stem}0"
    ms = ns // _NS_PER_MS
    high, low = ms >> 20, ms & 0xF_FFFF
    if high != state.high:
        state.high, state.top = high, _time_part(ms)[:6]
    at = state.taken
    if at >= _RANDOM_CHUNK:
        at = _read(state)
    state.taken = at + _RANDOM_BYTES
    pairs = _PAIRS
    random = state.text[at : at + _STEM_RANDOM]
    state.stem = f"{state.top}{pairs[low >> 10]}{pairs[low & 1023]}{random}"
    state.last = last = state.pool[at + _STEM_RANDOM] & 31
    state.last_ms, state.next_ns = ms, (ms + 1) * _NS_PER_MS
    return f"{prefix}_{state.stem}{_ALPHABET[last]}"


def _read(state: _Monotonic) -> int:
    """Read randomness ahead; the offset of the next id's, 0."""
    state.pool = os.urandom(_RANDOM_CHUNK)
    state.text = state.pool.translate(_FIVE_BITS).decode("ascii")
    return 0


def _time_part(ms: int) -> str:
    pairs = _PAIRS
    return (
        f"{pairs[(ms >> 40) & 1023]}{pairs[(ms >> 30) & 1023]}{pairs[(ms >> 20) & 1023]}"
        f"{pairs[(ms >> 10) & 1023]}{pairs[ms & 1023]}"
    )


def _carry(state: _Monotonic) -> None:
    """The last character went past the alphabet's end: the stem's random part plus one, and
    the last 0; past 75 bits, the next millisecond with a random part of 0."""
    ms = state.last_ms
    value = int(state.stem[_TIME_LENGTH:].translate(_AS_DIGITS), 32) + 1
    if value >> 75:
        ms, value = ms + 1, 0
        state.last_ms, state.next_ns = ms, (ms + 1) * _NS_PER_MS
    # 75 bits: a single character (the top five), then pairs
    pairs = "".join([_PAIRS[(value >> shift) & 1023] for shift in range(60, -1, -10)])
    state.stem, state.last = f"{_time_part(ms)}{_ALPHABET[value >> 70]}{pairs}", 0


def ulid(now_ms: int | None = None) -> str:
    """A ULID of now, or of ``now_ms`` (milliseconds since the epoch; then freshly random,
    without the monotonic order)."""
    if now_ms is None:
        return new_id("")[1:]
    state = _STATE
    at = state.taken
    if at >= _RANDOM_CHUNK:
        at = _read(state)
    state.taken = at + _RANDOM_BYTES
    return _time_part(now_ms) + state.text[at : at + _RANDOM_BYTES]


def id_from(prefix: str, now_ms: int, random_bits: int) -> str:
    """An id whose ULID body is made of the values given: reproducible ids for a seeded run."""
    value = (now_ms << 80) | (random_bits & ((1 << 80) - 1))
    return f"{prefix}_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def has_prefix(value: str, prefix: str) -> bool:
    """True when ``value`` looks like an id made by :func:`new_id` with ``prefix``."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and _BODY.fullmatch(body) is not None
