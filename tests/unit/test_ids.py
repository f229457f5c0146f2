"""ULIDs: Crockford base32 of (48-bit milliseconds, 80 random bits), sortable, monotonic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rampwire.ids import ULID_LENGTH, has_prefix, new_id, ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def value_of(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + CROCKFORD.index(char)
    return value


@given(st.integers(0, 2**48 - 1))
def test_the_time_is_the_top_48_bits_of_26_crockford_characters(ms: int) -> None:
    text = ulid(ms)
    assert len(text) == ULID_LENGTH
    assert set(text) <= set(CROCKFORD)
    assert value_of(text) >> 80 == ms
    assert value_of(text) < 2**128


@given(st.integers(0, 2**47), st.integers(1, 2**20))
def test_a_later_millisecond_sorts_after(ms: int, later: int) -> None:
    assert ulid(ms) < ulid(ms + later)


def test_ids_made_in_one_process_increase_even_within_a_millisecond() -> None:
    made = [ulid() for _ in range(2_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_new_ids_carry_their_prefix() -> None:
    assert has_prefix(new_id("ord"), "ord")
    assert not has_prefix(new_id("evt"), "ord")
