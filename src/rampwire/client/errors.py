"""What the client raises: one root, :class:`APIError`, under rampwire's own root::

RampwireError                 (rampwire.errors: ``except RampwireError`` catches all)
└── APIError                  anything rampwire.client raises
    ├── ProblemError          the server answered a problem document (RFC 9457)
    ├── ConnectionFailed      the server could not be reached, retries spent
    └── UnexpectedAnswer      the answer is not what the API documents
"""

from __future__ import annotations

from typing import Any

from ..errors import RampwireError


class APIError(RampwireError):
    """The rampwire API call failed."""


class ProblemError(APIError):
    """The server refused the request with a problem document: ``status`` (the HTTP status),
    ``type`` (``urn:rampwire:problem:<code>``), ``code`` (its last part), ``title``,
    ``detail``, ``errors`` (``[{"field", "reason"}]`` for validation) and any extension
    members (``extensions``, e.g. ``retry_after``)."""

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        instance: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.errors = errors or []
        self.extensions = extensions or {}
        super().__init__(f"{status} {title}: {detail}")

    @property
    def code(self) -> str:
        """The problem's code: ``not_found``, ``validation_error``, ``illegal_transition``..."""
        return self.type.rpartition(":")[2]

    @classmethod
    def from_document(cls, status: int, document: Any) -> ProblemError:
        """Read a problem document; an answer that is not one still gives a ProblemError."""
        if not isinstance(document, dict):
            return cls(status=status, type="about:blank", title="Error", detail=str(document))
        known = {"type", "title", "status", "detail", "instance", "errors"}
        errors = document.get("errors")
        return cls(
            status=status,
            type=str(document.get("type", "about:blank")),
            title=str(document.get("title", "Error")),
            detail=str(document.get("detail", "")),
            instance=document.get("instance"),
            errors=errors if isinstance(errors, list) else None,
            extensions={k: v for k, v in document.items() if k not in known},
        )


class ConnectionFailed(APIError):
    """The server could not be reached (connection refused, timed out, reset), retries spent."""


class UnexpectedAnswer(APIError):
    """The server's answer is not what the API documents (not JSON, or a wrong shape)."""


__all__ = ["APIError", "ConnectionFailed", "ProblemError", "UnexpectedAnswer"]
