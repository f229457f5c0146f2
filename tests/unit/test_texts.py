"""storage.texts.split_texts: columns of text values as one text each, which PostgreSQL's
``string_to_array(text, separator, null)`` gives back value for value (modelled here; the
server's own reading is in tests/integration/test_row_set_values.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.storage.texts import TEXT_SEPARATOR, split_texts


def string_to_array(text: str, separator: str, null: str | None) -> list[str | None]:
    """PostgreSQL's ``string_to_array`` with a non-empty separator: an empty text is no values."""
    if not text:
        return []
    return [None if part == null else part for part in text.split(separator)]


def read_back(columns: list[list[Any]]) -> list[list[str | None]] | None:
    split = split_texts(columns)
    if split is None:
        return None
    texts, separator, null = split
    assert separator and "\x00" not in separator  # PostgreSQL's text holds no NUL
    assert null is None or (null and separator not in null)
    return [string_to_array(text, separator, null) for text in texts]


# the separators and the null tried first, among other text
values = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from('\x1f\x1e\x1d\x01a,é😀 "\\{}')),
    st.text(),
)


@given(st.lists(st.lists(values, max_size=6), max_size=4))
def test_every_column_read_back_as_given(columns: list[list[str | None]]) -> None:
    found = read_back(columns)
    if any(column == [""] for column in columns):  # an empty text: no values, not one
        assert found is None
    else:
        assert found == columns


@pytest.mark.parametrize(
    "columns",
    [
        [["a", "b"], ["c", "d"]],
        [[], ["x"]],
        [["", ""], [""] * 3],
        [["a", None], [None]],
        [["a\x1fb", "c"]],  # holds the separator: another is chosen
        [["\x1e", None]],  # is the text that stands for NULL: another stands for it
        [["\x1e", "b"]],  # the same text where nothing is NULL: kept as a value
        [[chr(c) for c in range(1, 0x20)] + [None]],  # every control character taken
    ],
)
def test_cases(columns: list[list[str | None]]) -> None:
    assert read_back(columns) == columns


def test_the_usual_texts_are_joined_by_the_unit_separator() -> None:
    assert split_texts([["a", "b"], ["c"], []]) == (
        ["a\x1fb", "c", ""],
        TEXT_SEPARATOR,
        None,
    )
    assert split_texts([["a", None]]) == (["a\x1f\x1e"], TEXT_SEPARATOR, "\x1e")


@pytest.mark.parametrize("columns", [[[""]], [["a"], [""]], [["a", 1]], [[b"a", "b"]]])
def test_what_no_text_says(columns: list[list[Any]]) -> None:
    """A lone empty string (an empty text is read as no values), a value not a string."""
    assert split_texts(columns) is None
