"""Rendering a schema or a migration's text for one back-end."""

from __future__ import annotations

import pytest

from rampwire.storage.migrate import render

TEXT = "a {{JSON}} b{{postgresql: WHERE x}}; {{sqlite:\nPRAGMA p = ON;\n}}c"


@pytest.mark.parametrize(
    ("dialect", "rendered"),
    [
        ("postgresql", "a JSONB b WHERE x; c"),
        ("sqlite", "a TEXT b; \nPRAGMA p = ON;\nc"),
    ],
)
def test_each_back_end_keeps_its_own_text_and_drops_the_others(dialect: str, rendered: str) -> None:
    assert render(TEXT, dialect) == rendered  # type: ignore[arg-type]
