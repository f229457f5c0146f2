"""Query parameters: a name no route reads is refused, and times are read strictly.

:func:`known_query` is a dependency of every router: ``?wallet_address=0xabc`` on a route
that does not filter by it would otherwise answer as if no filter were given, every order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from ..errors import InvalidRequest

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_SECOND = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

# Seconds since the epoch, digits only (``-4.08e-306`` and ``1e9`` are not times), at most
# microseconds; 12 digits reach past the year 9999, which the range check then refuses.
_EPOCH_SECONDS = re.compile(r"^\d{1,12}(\.\d{1,6})?$")


async def known_query(request: Request) -> None:
    """Refuse, with 422 naming them, query parameters the matched route does not read."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        allowed = ", ".join(sorted(_query_names(route))) or "none"
        raise InvalidRequest(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
            f" (this route takes: {allowed})",
            errors=[
                {"field": name, "reason": "is not a known query parameter"} for name in unknown
            ],
        )


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters the route and its dependencies declare, by their wire names. (A
    walk over a handful of objects: cheaper than keeping a cache keyed by route.)"""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def parse_time(value: Any) -> datetime:
    """A time given in a query: ISO 8601 with a timezone, or seconds since the epoch; between
    1970 and the end of 9999."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _EPOCH_SECONDS.match(value):
        whole, _, fraction = value.partition(".")
        if int(whole) > (LAST_SECOND - EPOCH).total_seconds():
            raise ValueError("is after the year 9999")
        moment = EPOCH + timedelta(seconds=int(whole), microseconds=int(fraction.ljust(6, "0")))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "is not a time: give ISO 8601 with a timezone, like 2024-01-15T10:30:00Z,"
                " or seconds since 1970"
            ) from None
    else:
        raise ValueError("is not a time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("must carry a timezone, for example 2024-01-15T10:30:00Z")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is after the year 9999") from None
    if moment < EPOCH:
        raise ValueError("is before 1970")
    return moment


QueryTime = Annotated[datetime, BeforeValidator(parse_time)]
"""A time query parameter (:func:`parse_time`)."""
