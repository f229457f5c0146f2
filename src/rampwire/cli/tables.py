"""What the commands over the API print: aligned tables for people, JSON (``--json``) for
scripts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import click
import orjson
from pydantic import BaseModel

MAX_CELL = 60  # characters; a longer value is cut with "…" (use --json for all of it)
_WHOLE = frozenset({"secret", "token"})  # shown once, so never cut


def plain(record: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """A record as JSON-ready data, every field the server sent."""
    if isinstance(record, BaseModel):
        return record.model_dump(mode="json", by_alias=True)
    return dict(record)


def cell(value: Any) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, datetime):
        text = value.isoformat(timespec="seconds").replace("+00:00", "Z")
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, BaseModel | dict | list):
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}  # the set ones
        text = orjson.dumps(data).decode() if data else "-"
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line([h.upper() for h in headers]), *(line(r) for r in rows)])


def show_list(
    records: Iterable[BaseModel], columns: Sequence[str], *, as_json: bool, empty: str
) -> None:
    """Records as a table (the given columns), or a JSON array of every field."""
    items = list(records)
    if as_json:
        click.echo(orjson.dumps([plain(r) for r in items], option=orjson.OPT_INDENT_2))
        return
    if not items:
        click.echo(empty)
        return
    rows = [[cell(_field(r, c)) for c in columns] for r in items]
    click.echo(table(rows, columns))


def show_one(record: BaseModel | Mapping[str, Any], *, as_json: bool) -> None:
    """One record: its fields that hold a value, one per line (or the JSON object, every
    field)."""
    data = plain(record)
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        return
    data = {k: v for k, v in data.items() if v not in (None, [], {})}
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        click.echo(f"{key.ljust(width)}  {value if key in _WHOLE else cell(value)}")


def _field(record: BaseModel, column: str) -> Any:
    value: Any = record
    for part in column.split("."):
        value = getattr(value, part, None) if not isinstance(value, dict) else value.get(part)
    return value


__all__ = ["cell", "plain", "show_list", "show_one", "table"]
