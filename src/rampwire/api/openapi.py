"""The OpenAPI document: what every route answers when it refuses, the bearer scheme, id
patterns, and the ``webhooks`` section.

Routes return prebuilt JSON bytes, so FastAPI cannot see their shapes: each route names its
answers in ``responses=`` (the problem ones built here, once), and :func:`install` adds what no
route owns (the problem schema, the webhooks) to the generated document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Path
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

from ..ids import ULID_LENGTH
from .problems import PROBLEM_CONTENT_TYPE

PROBLEM_REF = "#/components/schemas/Problem"
SCHEMA_REF = "#/components/schemas/{model}"
_CROCKFORD = "[0-9A-HJKMNP-TV-Z]"

_WHY = {
    400: "Malformed: not JSON, a bad id or header, an unreadable Content-Length",
    401: "No API key, a malformed Authorization header, or an unknown or revoked key",
    403: "The API key's scope does not allow this",
    404: "Nothing with that id (another partner's objects are not found either)",
    409: "Conflicts with the current state; nothing was written",
    413: "The body is larger than RAMPWIRE_MAX_BODY_BYTES",
    415: "The body is not JSON",
    422: "A field, or a query parameter, is invalid: `errors` names each",
    429: "Over the partner's (or the source's) request quota: retry after `Retry-After` seconds",
    503: "The database cannot be reached; nothing was written, try again (Retry-After)",
}


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document; ``type`` is ``urn:rampwire:problem:<code>``. Other
    members (``required_scope``, ``checks``...) may follow."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A ``responses=`` mapping: each status answered with a problem document."""
    return {
        status: {
            "description": _WHY[status],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for status in statuses
    }


AUTHENTICATED = problems(
    400, 401, 403, 422, 429, 503
)  # every /v1 route: key, scope, query, database
FOUND = problems(404)  # a route on one resource
BODY = problems(413, 415)  # a route that reads a JSON body


def id_pattern(prefix: str) -> str:
    return f"^{prefix}_{_CROCKFORD}{{{ULID_LENGTH}}}$"


def id_path(prefix: str, what: str) -> Any:
    """``Annotated[str, id_path(...)]``: a path parameter that is an id. Its pattern is
    documented, not enforced by the framework, so a malformed id keeps its 400 naming the
    expected form."""
    return Path(
        description=f"the {what}'s id: {prefix}_ followed by {ULID_LENGTH} characters",
        json_schema_extra={"pattern": id_pattern(prefix)},
    )


def schemas_of(*models: type[BaseModel]) -> dict[str, Any]:
    """The models' JSON Schemas, and those they refer to, keyed for ``components.schemas``."""
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def install(
    app: FastAPI, webhooks: Callable[[], tuple[dict[str, Any], dict[str, Any]]] | None = None
) -> None:
    """Build the document once, on first request: FastAPI's paths, the problem schema, the
    bearer scheme (declared by :mod:`.security`), and ``webhooks`` with the schemas they use
    (``webhooks()`` gives ``(webhooks, component schemas)``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(schemas_of(Problem))
        _problem_422(document)
        if webhooks is not None:
            hooks, schemas = webhooks()
            components.update(schemas)
            document["webhooks"] = hooks
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_422(document: dict[str, Any]) -> None:
    """FastAPI documents a 422 of its own shape where a route names none; every 422 here is a
    problem document (:func:`.problems.install`)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "HTTPValidationError" in str(answers.get("422", "")):
                answers["422"] = problems(422)[422]
    for name in ("HTTPValidationError", "ValidationError"):
        document["components"]["schemas"].pop(name, None)
