"""OpenTelemetry tracing, an optional extra (:mod:`.spans`). A leaf: it knows nothing of
rampwire's records, only ids."""

from .spans import TRACEPARENT, Tracing

__all__ = ["TRACEPARENT", "Tracing"]
