"""The HTTP API: JSON over HTTP, OpenAPI at ``/openapi.json``, RFC 9457 problem responses."""

from .app import create_app

__all__ = ["create_app"]
