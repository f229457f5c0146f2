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


def test_the_random_part_is_the_next_16_bytes_read_five_bits_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = bytes(range(256)) * 16
    monkeypatch.setattr(ids.os, "urandom", lambda n: drawn[:n])
    ids._Monotonic.forget()
    for n in range(3):
        ms = 1_733_000_000_000 + n
        random = 0
        for byte in drawn[16 * n : 16 * n + 16]:
            random = random << 5 | byte & 31
        assert value_of(ulid(ms)) == (ms << 80) | random


class Clock:
    """``time.time_ns`` for ids: the time it is set to."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def time_ns(self) -> int:
        return self.ns


def set_clock(monkeypatch: pytest.MonkeyPatch, ns: int) -> Clock:
    """A clock for ids, and a process that has made no id yet (its last id is later)."""
    clock = Clock(ns)
    monkeypatch.setattr(ids, "time", clock)
    monkeypatch.setattr(ids, "_STATE", ids._Monotonic())
    return clock


def test_ids_within_a_millisecond_count_up_by_one_across_carries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each id of the same millisecond is the one before plus one, its last character carried
    into the others (one id in 32 carries), and a clock that went back changes nothing."""
    clock = set_clock(monkeypatch, 1_733_000_000_000_123_456)
    made = [value_of(new_id("evt")[4:]) for _ in range(200)]
    clock.ns -= 5_000_000  # back by 5 ms: still counting up
    made += [value_of(new_id("evt")[4:]) for _ in range(100)]
    assert made[0] >> 80 == 1_733_000_000_000
    assert made == list(range(made[0], made[0] + 300))


def test_a_random_part_counted_past_its_80_bits_carries_into_the_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ms = 1_733_000_000_000
    clock = set_clock(monkeypatch, ms * 1_000_000)
    first = value_of(new_id("evt")[4:])
    state = ids._STATE
    state.stem = state.stem[:10] + "Z" * 15  # the largest random part, less its last character
    state.last = 30
    assert value_of(new_id("evt")[4:]) == (ms << 80) | (2**80 - 1)
    assert value_of(new_id("evt")[4:]) == (ms + 1) << 80  # the next millisecond, random 0
    assert value_of(new_id("evt")[4:]) == ((ms + 1) << 80) + 1
    assert first >> 80 == ms
    clock.ns = (ms + 2) * 1_000_000  # a later millisecond: drawn anew
    assert value_of(new_id("evt")[4:]) >> 80 == ms + 2


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


def test_a_forked_child_does_not_continue_its_parents_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parent and child each make their next id in the same millisecond: the parent's is its
    last one plus one, and the child's must not be that same id."""
    set_clock(monkeypatch, 1_733_000_000_000_123_456)  # stopped, in both processes
    new_id("evt")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(writer, new_id("evt").encode())
        os._exit(0)
    ours = new_id("evt")
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert child != ours


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
