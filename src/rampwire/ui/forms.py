"""Reading the dashboard's forms into the API's own body models, so a form and a request to
the API are checked by the same rules and refused with the same words.

A refusal is the API's own ``BadRequest`` or ``InvalidRequest`` (:data:`REFUSED`): the page's
handler catches it and shows the form again with that message, status 400, nothing written.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from ..domain.serde import error_reason
from ..errors import BadRequest, InvalidRequest

M = TypeVar("M", bound=BaseModel)

REFUSED = (BadRequest, InvalidRequest)  # what a form's handler shows back to the user (400)


def model(kind: type[M], data: dict[str, Any]) -> M:
    """``data`` validated by ``kind``, the first error named as the API names it."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "form"
        reason = error_reason(first)
        raise InvalidRequest(
            f"{where}: {reason}", errors=[{"field": where, "reason": reason}]
        ) from exc


def text(fields: dict[str, str], name: str) -> str | None:
    """A text field, stripped; None when blank (not given)."""
    value = fields.get(name, "").strip()
    return value or None


def lines(fields: dict[str, str], name: str) -> list[str]:
    """A textarea of one value per line, blank lines left out."""
    return [line.strip() for line in fields.get(name, "").splitlines() if line.strip()]


def json_object(fields: dict[str, str], name: str) -> dict[str, Any] | None:
    """A textarea holding a JSON object; None when blank."""
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{name}: is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise BadRequest(f'{name}: must be a JSON object, such as {{"tier": "gold"}}')
    return value


def checked(fields: dict[str, str], name: str) -> bool:
    return fields.get(name) in ("on", "true", "1")
