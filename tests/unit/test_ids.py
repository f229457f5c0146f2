"""ULIDs: Crockford base32 of (48-bit milliseconds, 80 random bits), sortable, monotonic."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire import ids
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


def test_the_random_part_is_the_next_80_bits_read(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = bytes(range(256)) * 10
    monkeypatch.setattr(ids.os, "urandom", lambda n: drawn[:n])
    ids._Monotonic.forget()
    for n in range(3):
        ms = 1_733_000_000_000 + n
        assert value_of(ulid(ms)) == (ms << 80) | int.from_bytes(drawn[10 * n : 10 * n + 10])


def test_a_forked_child_does_not_reuse_its_parents_randomness() -> None:
    ulid()  # the parent has randomness read ahead
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without pytest's teardown
        os.write(writer, ulid(1).encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert child[10:] != ulid(1)[10:]


@pytest.mark.parametrize(
    "value",
    [
        "ord",
        "ord_",
        "evt_" + "0" * 26,
        "ord_" + "0" * 25,
        "ord_" + "0" * 27,
        "ord_" + "I" * 26,
        "ord_" + "0" * 25 + "u",
        "ord_" + "0" * 25 + "\u0663",
        "ord-" + "0" * 26,
    ],
)
def test_what_is_not_an_id_of_a_prefix(value: str) -> None:
    assert not has_prefix(value, "ord")
