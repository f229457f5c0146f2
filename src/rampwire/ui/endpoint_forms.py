"""The endpoint form: its fields read into the API's own request models (``EndpointIn``,
``EndpointPatch``), so the API's validation answers for the dashboard too, and its field errors
are shown next to the fields they name.

Only what a form cannot say as JSON is read here: lists as comma-separated text, headers as
``Name: value`` lines, the retry policy as JSON text, the signature schemes as checkboxes, and
one secret field per dialect (each labelled with what that provider calls it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from ..api.problems import field_errors
from ..api.schemas import EndpointIn, EndpointPatch
from ..delivery.endpoints import (
    DEFAULT_MAX_IN_FLIGHT,
    HEADER_MASK,
    KEY_SIGNED,
    SIGNATURE_SCHEMES,
    Endpoint,
    Ordering,
)
from ..dialects.base import DialectName
from ..errors import InvalidRequest

# What each format calls the secret it signs with; fireblocks has none (rampwire's RSA key).
SECRET_LABELS = {
    DialectName.STANDARD: "Signing secret (whsec_…, Standard Webhooks)",
    DialectName.REVOLUT: "Revolut signing secret (wsk_…)",
    DialectName.SABER: "Saber HMAC secret",
    DialectName.KOYWE: "Koywe secret (HMAC of the body)",
    DialectName.TRANSAK: "Transak access token (signs the JWT)",
}
DIALECTS = [d.value for d in DialectName]
ORDERINGS = [o.value for o in Ordering]


class FormErrors(Exception):
    """The form's fields did not make a valid request: ``errors`` by field, shown beside them."""

    def __init__(self, errors: list[dict[str, str]], message: str | None = None) -> None:
        super().__init__(message or "; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors
        self.message = message


def by_field(errors: list[dict[str, str]]) -> dict[str, str]:
    """Each error under its top-level field (``headers.X-Key`` is shown by ``headers``)."""
    found: dict[str, str] = {}
    for error in errors:
        name = error["field"].split(".", 1)[0]
        found[name] = "; ".join(filter(None, (found.get(name), error["reason"])))
    return found


def _text(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name, "").strip()
    return value or None


def _list(fields: Mapping[str, str], name: str) -> list[str] | None:
    value = fields.get(name, "")
    items = [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]
    return items or None


def _headers(fields: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(fields.get("headers", "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            reason = f"line {number} is not `Name: value`"
            raise FormErrors([{"field": "headers", "reason": reason}])
        headers[name.strip()] = value.strip()
    return headers


def _json(fields: Mapping[str, str], name: str) -> Any:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FormErrors([{"field": name, "reason": f"is not valid JSON ({exc})"}]) from exc


def _common(fields: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "url": fields.get("url", "").strip(),
        "description": _text(fields, "description"),
        "event_types": _list(fields, "event_types") or [],
        "headers": _headers(fields),
        "rate_limit": _text(fields, "rate_limit"),
        "max_in_flight": _text(fields, "max_in_flight") or DEFAULT_MAX_IN_FLIGHT,
        "ordering": fields.get("ordering") or Ordering.NONE.value,
        "retry_policy": _json(fields, "retry_policy"),
        "signatures": [s for s in SIGNATURE_SCHEMES if fields.get(f"sig_{s}")],
        "traceparent": bool(fields.get("traceparent")),
    }
    return data


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormErrors(field_errors(exc.errors())) from exc


def new_endpoint(fields: Mapping[str, str], *, portal: bool) -> EndpointIn:
    """The create form as the API's request body (a portal form sets no partner fields)."""
    data = _common(fields)
    dialect = fields.get("dialect") or DialectName.STANDARD.value
    data["dialect"] = dialect
    data["secret"] = _text(fields, f"secret_{dialect}")
    data["enabled"] = bool(fields.get("enabled"))
    data["disabled_reason"] = _text(fields, "disabled_reason")
    if dialect != DialectName.STANDARD.value and not data["signatures"]:
        data["signatures"] = ["v1"]  # the box is shown for standard endpoints only
    if not portal:
        data["partner_id"] = _text(fields, "partner_id")
        data["partners"] = _list(fields, "partners")
    return _validated(EndpointIn, {k: v for k, v in data.items() if v is not None})  # type: ignore[no-any-return]


def changed_endpoint(
    fields: Mapping[str, str], current: Endpoint, *, portal: bool
) -> EndpointPatch:
    """The edit form as the API's patch: every field of the form, so an emptied one is
    cleared (the description, the rate limit, the retry policy)."""
    data = _common(fields)
    if current.dialect != DialectName.STANDARD.value:
        data.pop("signatures")
    if not portal and current.partner_id is None:
        data["partners"] = _list(fields, "partners") or []
    return _validated(EndpointPatch, data)  # type: ignore[no-any-return]


def form_errors(exc: InvalidRequest) -> list[dict[str, str]]:
    """The field errors of the API's 422 (its problem document's ``errors``)."""
    errors = exc.extensions.get("errors")
    if isinstance(errors, list) and errors:
        return errors
    return [{"field": "form", "reason": exc.message}]


def values(endpoint: Endpoint | None) -> dict[str, str]:
    """The form's fields for an existing endpoint (header values masked: they are credentials
    and kept as they are unless changed), or a new one's defaults."""
    if endpoint is None:
        return {
            "event_types": "*",
            "max_in_flight": str(DEFAULT_MAX_IN_FLIGHT),
            "ordering": Ordering.NONE.value,
            "dialect": DialectName.STANDARD.value,
            "enabled": "on",
            "sig_v1": "on",
        }
    found = {
        "url": endpoint.url,
        "description": endpoint.description or "",
        "event_types": ", ".join(endpoint.event_types),
        "headers": "\n".join(f"{name}: {HEADER_MASK}" for name in endpoint.headers),
        "rate_limit": "" if endpoint.rate_limit is None else str(endpoint.rate_limit),
        "max_in_flight": str(endpoint.max_in_flight),
        "ordering": endpoint.ordering.value,
        "retry_policy": ""
        if endpoint.retry_policy is None
        else orjson.dumps(endpoint.retry_policy).decode(),
        "dialect": endpoint.dialect,
        "partners": ", ".join(endpoint.partners),
    }
    if endpoint.traceparent:
        found["traceparent"] = "on"
    for scheme in endpoint.signatures:
        found[f"sig_{scheme}"] = "on"
    return found


def secret_fields() -> list[tuple[str, str]]:
    """(dialect, label) of every dialect that takes a secret."""
    return [(d.value, label) for d, label in SECRET_LABELS.items() if d not in KEY_SIGNED]
