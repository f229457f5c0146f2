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


_RANDOM_CHUNK = 10 * 256  # bytes of randomness read at once: 256 ids per getrandom call


class _Monotonic:
    """Within one process, each ULID is greater than the one before, even in the same
    millisecond: the random part is incremented instead of drawn again.

    One per process (:data:`_STATE`): its fields change with every id, so they are an
    instance's, not the class's (setting a class attribute invalidates the interpreter's
    attribute caches for the class, and every id then looked its fields up the slow way)."""

    __slots__ = ("head", "head_ms", "last_ms", "last_random", "pool", "taken")

    def __init__(self) -> None:
        self.last_ms = 0
        self.last_random = 0
        self.head_ms = -1  # the millisecond :attr:`head` encodes (ten characters), reused within it
        self.head = ""
        self.pool = b""  # randomness read ahead; a forked child must not reuse its parent's
        self.taken = _RANDOM_CHUNK

    @staticmethod
    def forget() -> None:
        _STATE.pool, _STATE.taken = b"", _RANDOM_CHUNK


_STATE = _Monotonic()
os.register_at_fork(after_in_child=_Monotonic.forget)


def ulid(now_ms: int | None = None) -> str:
    state = _STATE
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    at = state.taken
    if at >= _RANDOM_CHUNK:
        state.pool, at = os.urandom(_RANDOM_CHUNK), 0
    state.taken = at + 10
    random = int.from_bytes(state.pool[at : at + 10], "big")
    if now_ms is None:
        if ms <= state.last_ms:
            ms, random = state.last_ms, state.last_random + 1
            if random >> 80:  # the random part overflowed: carry into the time
                ms, random = ms + 1, 0
        state.last_ms, state.last_random = ms, random
    pairs = _PAIRS
    if ms != state.head_ms:  # the 48-bit time is the first ten characters (50 bits)
        state.head = (
            f"{pairs[(ms >> 40) & 1023]}{pairs[(ms >> 30) & 1023]}{pairs[(ms >> 20) & 1023]}"
            f"{pairs[(ms >> 10) & 1023]}{pairs[ms & 1023]}"
        )
        state.head_ms = ms
    # 80 random bits in two 40-bit halves: small integers, cheaper to shift than one of 128
    high, low = random >> 40, random & 0xFF_FFFF_FFFF
    return (
        f"{state.head}{pairs[high >> 30]}{pairs[(high >> 20) & 1023]}"
        f"{pairs[(high >> 10) & 1023]}{pairs[high & 1023]}{pairs[low >> 30]}"
        f"{pairs[(low >> 20) & 1023]}{pairs[(low >> 10) & 1023]}{pairs[low & 1023]}"
    )


def id_from(prefix: str, now_ms: int, random_bits: int) -> str:
    """An id whose ULID body is made of the values given: reproducible ids for a seeded run."""
    value = (now_ms << 80) | (random_bits & ((1 << 80) - 1))
    return f"{prefix}_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_id(prefix: str) -> str:
    """A new id such as ``ord_01JD3W6Q9R...``."""
    return f"{prefix}_{ulid()}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when ``value`` looks like an id made by :func:`new_id` with ``prefix``."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and _BODY.fullmatch(body) is not None
