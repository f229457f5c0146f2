"""What every resource shares: its transport, reading answers into records, cursor pages.

Lists page with ``limit`` and ``cursor`` and answer ``{"data": [...], "next_cursor": ...}``
(``next_cursor`` is None on the last page): :meth:`Resource._pages` follows the cursors lazily,
one request per page, as an async iterator of records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from .errors import UnexpectedAnswer
from .transport import Transport

R = TypeVar("R", bound=BaseModel)

DEFAULT_PAGE_SIZE = 100  # records per request while iterating; the API's maximum is 500


def segment(value: str) -> str:
    """An id as one path segment: ``/`` and ``?`` in it cannot reach another route."""
    return quote(value, safe="")


def read(model: type[R], data: Any) -> R:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnexpectedAnswer(f"the answer is not a {model.__name__}: {exc}") from None


def read_list(model: type[R], data: Any) -> list[R]:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UnexpectedAnswer(f"the answer is not a list of {model.__name__}")
    return [read(model, item) for item in items]


def fields(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not None), as a request body."""
    return {key: value for key, value in values.items() if value is not None}


class Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def _pages(
        self, path: str, model: type[R], query: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[R]:
        cursor: str | None = None
        while True:
            body = await self._t.send(
                "GET", path, query={**query, "limit": page_size, "cursor": cursor}
            )
            for record in read_list(model, body):
                yield record
            cursor = body.get("next_cursor")
            if not cursor:
                return


__all__ = ["DEFAULT_PAGE_SIZE", "Resource", "fields", "read", "read_list", "segment"]
