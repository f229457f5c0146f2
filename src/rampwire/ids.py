"""Prefixed, time-sortable identifiers: ``ord_01JD...``, ``evt_...``, ``key_...``.

The body is a ULID (48-bit millisecond time, 80 random bits, Crockford base32), so ids sort by
creation time, which makes them usable as pagination cursors and index-friendly in both databases.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> two characters
_PAIR_SHIFTS = range(ULID_LENGTH * 5 - 10, -1, -10)  # 130 bits, most significant pair first


class _Monotonic:
    """Within one process, each ULID is greater than the one before, even in the same
    millisecond: the random part is incremented instead of drawn again."""

    last = 0


def ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    if now_ms is None:
        if value >> 80 <= _Monotonic.last >> 80:
            value = _Monotonic.last + 1
        _Monotonic.last = value
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


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
    return (
        sep == "_"
        and head == prefix
        and len(body) == ULID_LENGTH
        and all(c in _ALPHABET for c in body)
    )
