"""OpenTelemetry tracing, an optional extra (:mod:`.spans`). A leaf: it knows nothing of
rampwire's records, only ids and the stored form of a span's context."""

from .spans import TRACEPARENT, Tracing, trace_context

__all__ = ["TRACEPARENT", "Tracing", "trace_context"]
