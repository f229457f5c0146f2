"""PostgreSQL: text values many at a time as one text, which the server splits
(``string_to_array(text, separator, null)``), instead of a ``text[]`` array.

asyncpg's array encoder checks each element of an array against abstract base classes (two
Python calls of ``ABCMeta.__instancecheck__`` for a string); a text is one value, joined in C.
The row sets of :mod:`.database` and the ingest batch's first statement send their text lists
so. Numbers stay arrays (one check each; parsed from text they would cost the server more).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEXT_SEPARATOR = "\x1f"  # ASCII's unit separator; another character where a value holds it
_NULL_TEXT = "\x1e"  # stands for NULL where a column holds None, unless a value is this text
# characters tried in turn when a value holds the separator (not the surrogates: not UTF-8)
_SPARE_CODES = (range(0x1F, 0, -1), range(0x7F, 0xD800), range(0xE000, 0x110000))


def split_texts(columns: Sequence[Sequence[Any]]) -> tuple[list[str], str, str | None] | None:
    """Columns of text values (None for NULL) as ``(texts, separator, null)`` such that
    PostgreSQL's ``string_to_array(texts[i], separator, null)`` is ``columns[i]``; ``null`` is
    None where no value is (no element is then read as NULL). None when no text says them: a
    value that is not a string, or a column of one empty string (an empty text is no values)."""
    separator, nulls = TEXT_SEPARATOR, False
    texts: list[str] = []
    for column in columns:
        try:
            text = separator.join(column)
        except TypeError:  # a NULL (or a value not a string)
            try:
                text = separator.join([_NULL_TEXT if v is None else v for v in column])
            except TypeError:
                return None
            nulls = True
        if (text.count(separator) + 1 if text else 0) != len(column):  # a value holds it
            return _split_slowly(columns)
        texts.append(text)
    if not nulls:
        return texts, separator, None
    if any(_NULL_TEXT in column for column in columns):  # a value that would read as NULL
        return _split_slowly(columns)
    return texts, separator, _NULL_TEXT


def _split_slowly(columns: Sequence[Sequence[Any]]) -> tuple[list[str], str, str | None] | None:
    """:func:`split_texts` with a separator and a null that no value holds."""
    held: set[str] = set()
    nulls = False
    for column in columns:
        if len(column) == 1 and column[0] == "":
            return None
        for value in column:
            if value is None:
                nulls = True
            elif isinstance(value, str):
                held.update(value)
            else:
                return None
    spare = (c for codes in _SPARE_CODES for c in map(chr, codes) if c not in held)
    separator = next(spare)
    null = next(spare) if nulls else ""  # "": no value is None
    texts = [separator.join([null if v is None else v for v in column]) for column in columns]
    return texts, separator, null if nulls else None
