"""Head sampling of root spans, decided before OpenTelemetry's SDK is asked for a span.

``RAMPWIRE_TRACING_SAMPLE=0.1`` samples one root span in ten, as the SDK's
``ParentBased(TraceIdRatioBased(0.1))`` does: by the trace id's low 64 bits. The SDK builds
every span, recorded or not, through the same general path (its sampler's result objects, the
parent lookup, the ids), and for the nine spans in ten that are not recorded that path was most
of what tracing cost an ingest request (~40,000 of ~65,000 instructions, counted by callgrind).
:class:`Head` draws the trace id first, decides with the same rule, and makes an unsampled root
itself: a ``NonRecordingSpan`` with the context the SDK would have given it (the same trace
id, a random span id, the SDK's own flags for an unsampled root, read from the SDK once).
A sampled root is still the SDK's, made with the trace id drawn here (:class:`_Drawn`), so
the SDK's sampler reaches the same decision on it.

Only roots take this path; a span with a parent (a caller's ``traceparent``, a stored
producer's context) is the SDK's, as before. Spans are started on the event loop's thread,
which is what lets a drawn id wait in :class:`_Drawn` for the next ``start_span`` call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, Tracer


class _Drawn(RandomIdGenerator):
    """The SDK's random ids, except that the next trace id may be one drawn beforehand."""

    def __init__(self) -> None:
        self.next: int | None = None

    def generate_trace_id(self) -> int:
        drawn, self.next = self.next, None
        return super().generate_trace_id() if drawn is None else drawn


class Head:
    """A tracer provider that samples root spans at ``ratio`` (parent-based otherwise), and
    the decision for a root taken before the SDK makes one (:meth:`root`)."""

    def __init__(self, ratio: float, resource: Resource | None = None) -> None:
        self._ids = _Drawn()
        self._ratio = TraceIdRatioBased(ratio)
        self.provider = TracerProvider(
            sampler=ParentBased(self._ratio), id_generator=self._ids, resource=resource
        )
        # The flags the SDK gives an unsampled root (this SDK version's, random-id bit and all),
        # read off one it makes: a trace id whose low 64 bits are all ones is never sampled
        # below a ratio of 1, and at 1 no root is unsampled.
        self._ids.next = (1 << 64) | TraceIdRatioBased.TRACE_ID_LIMIT
        probe = self.provider.get_tracer(__name__).start_span("probe", context=Context())
        self._unsampled = probe.get_span_context().trace_flags

    def sampled(self, trace_id: int) -> bool:
        """Whether a root span of ``trace_id`` is sampled: ``TraceIdRatioBased``'s rule."""
        return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._ratio.bound

    def root(
        self,
        tracer: Tracer,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link] = (),
    ) -> Span:
        """A root span of a new trace: the SDK's when sampled, else a non-recording span with
        the context the SDK would have given it."""
        trace_id = self._ids.generate_trace_id()
        if not self.sampled(trace_id):
            span_id = self._ids.generate_span_id()
            return NonRecordingSpan(
                SpanContext(trace_id, span_id, is_remote=False, trace_flags=self._unsampled)
            )
        self._ids.next = trace_id
        try:
            return tracer.start_span(
                name, context=Context(), kind=kind, attributes=attributes, links=links
            )
        finally:
            self._ids.next = None  # taken, or left by a tracer that made no span


__all__ = ["Head"]
