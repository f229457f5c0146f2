"""RFC 9457 problem documents, and the exception handlers that produce them.

Every error a client can cause becomes ``application/problem+json`` with a 4xx status naming what
is wrong; anything else is a bare 500 problem, logged with its trace but never showing it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import logs
from ..domain.serde import error_reason
from ..errors import ClientError, DatabaseUnavailable
from . import context

log = logging.getLogger("rampwire.api")

PROBLEM_TYPE_PREFIX = "urn:rampwire:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

UNAVAILABLE_RETRY_AFTER_S = 2  # a database outage: when a client may try again

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    body.update(extensions)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def client_problem(exc: ClientError, path: str) -> Response:
    """The problem document for an error the client caused."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429:
        headers = {"Retry-After": str(exc.extensions["retry_after"])}
    return problem(
        exc.status, exc.code, exc.message, instance=path, headers=headers, **exc.extensions
    )


def unavailable_problem(exc: DatabaseUnavailable, path: str) -> Response:
    """The database cannot be reached: 503, nothing was written, try again shortly."""
    log.warning("%s: %s", path, exc.message)
    return problem(
        503,
        "database_unavailable",
        "the database cannot be reached right now; nothing was written, try again shortly",
        instance=path,
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


def field_errors(errors: Iterable[Any]) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "fiat.amount", "reason": "..."}]``."""
    result = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "header", "path")]
        field = ".".join(loc) or "body"
        result.append({"field": field, "reason": error_reason(error)})
    return result


def allowed_methods(request: Request) -> str:
    """Every method the path takes (starlette's 405 names only the first route's): each
    method asked of the router, as included routers hide their routes' methods."""
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def client_error(request: Request, exc: Exception) -> Response:
        return client_problem(cast(ClientError, exc), request.url.path)  # only ClientError here

    async def validation_error(request: Request, exc: Exception) -> Response:
        exc = cast(RequestValidationError, exc)
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            where = next(e for e in errors if e.get("type") == "json_invalid")
            reason = where.get("ctx", {}).get("error", "malformed JSON")
            return problem(
                400,
                "malformed_json",
                f"the body is not valid JSON: {reason}",
                instance=request.url.path,
            )
        fields = field_errors(errors)
        summary = "; ".join(f"{e['field']}: {e['reason']}" for e in fields)
        return problem(422, "validation_error", summary, instance=request.url.path, errors=fields)

    async def http_error(request: Request, exc: Exception) -> Response:
        exc = cast(StarletteHTTPException, exc)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem(
            exc.status_code, code, str(exc.detail), instance=request.url.path, headers=headers
        )

    async def unavailable(request: Request, exc: Exception) -> Response:
        return unavailable_problem(cast(DatabaseUnavailable, exc), request.url.path)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # called by starlette's ServerErrorMiddleware, outside the layers that bound the
        # request id to the log lines and add it to the answer: both read it from the scope
        request_id = request.scope.get(context.SCOPE_KEY)
        with logs.bind(request_id=request_id):
            log.exception("unhandled error on %s %s", request.method, request.url.path)
        headers = None if request_id is None else {"X-Request-Id": request_id}
        return problem(
            500,
            "internal_error",
            "an unexpected error occurred; it has been logged",
            headers=headers,
        )

    app.add_exception_handler(ClientError, client_error)
    app.add_exception_handler(DatabaseUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
