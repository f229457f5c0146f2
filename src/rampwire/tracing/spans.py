"""OpenTelemetry spans, optional (``pip install 'rampwire[tracing]'``) and off by default: a
server span per API and ingest request, and a span per delivery attempt that links to the
span of the request that produced its event, so one trace view shows "partner called the API →
order changed → webhook attempted three times → delivered".

Which request produced an event is remembered in this process (:meth:`Tracing.produced`, a
bounded map from event id to span context): an attempt made by ``serve``'s own worker links
back; one made by a separate ``rampwire worker`` process starts a trace of its own, until the
event rows keep their trace context (a column, hence a migration: not part of this change).

With tracing off, or the extra not installed, every method costs one attribute test.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanContext, Tracer

log = logging.getLogger("rampwire.tracing")

REMEMBERED_EVENTS = 10_000  # events whose producing span is kept for their attempts' links
TRACEPARENT = "traceparent"
_NO_HEADERS: Mapping[str, str] = {}


class Tracing:
    """The spans of one process; ``Tracing()`` traces nothing."""

    def __init__(self, provider: TracerProvider | None = None, *, traceparent: bool = False):
        """``provider``: an SDK tracer provider (None: off); ``traceparent``: deliveries carry
        a W3C ``traceparent`` header naming their attempt's span."""
        self.enabled = provider is not None
        self.traceparent = traceparent and provider is not None
        self._provider = provider
        self._tracer: Tracer | None = provider.get_tracer("rampwire") if provider else None
        self._produced: OrderedDict[str, SpanContext] = OrderedDict()

    @classmethod
    def from_settings(cls, sample_ratio: float, *, traceparent: bool) -> Tracing:
        """Spans sampled at ``sample_ratio`` (0: off), exported over OTLP/HTTP to where the
        standard ``OTEL_EXPORTER_OTLP_*`` variables say (default ``localhost:4318``)."""
        if sample_ratio <= 0:
            return cls()
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError:
            log.warning("tracing asked for, but not installed: pip install 'rampwire[tracing]'")
            return cls()
        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
            resource=Resource.create({"service.name": "rampwire"}),
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, traceparent=traceparent)

    def shutdown(self) -> None:
        """Export what is pending (at the end of the process)."""
        if self._provider is not None:
            self._provider.shutdown()

    @contextmanager
    def request(self, name: str, headers: Mapping[str, str], **attributes: Any) -> Iterator[None]:
        """A server span around an HTTP request; a caller's ``traceparent`` makes it a child."""
        tracer = self._tracer
        if tracer is None:
            yield
            return
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        parent = TraceContextTextMapPropagator().extract(headers)
        with tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ):
            yield

    def produced(self, event_ids: list[str]) -> None:
        """These events were written under the current span: their attempts link to it."""
        if self._tracer is None:
            return
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return
        for event_id in event_ids:
            self._produced[event_id] = context
        while len(self._produced) > REMEMBERED_EVENTS:
            self._produced.popitem(last=False)

    @contextmanager
    def attempt(self, event_id: str, **attributes: Any) -> Iterator[Mapping[str, str]]:
        """A span around one delivery attempt, linked to the span that produced the event;
        yields the headers to send with it (``traceparent``, when asked for)."""
        tracer = self._tracer
        if tracer is None:
            yield _NO_HEADERS
            return
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Link, NonRecordingSpan, SpanKind, set_span_in_context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        origin = self._produced.get(event_id)
        attributes["rampwire.event_id"] = event_id
        # In the producing request's trace, as its child, and linked to it as well (a viewer
        # that shows links only); without one, a root of its own.
        parent = otel_context.Context()
        links = []
        if origin is not None:
            parent = set_span_in_context(NonRecordingSpan(origin))
            links = [Link(origin)]
        with tracer.start_as_current_span(
            "webhook attempt",
            context=parent,
            kind=SpanKind.CLIENT,
            links=links,
            attributes=attributes,
        ):
            headers: dict[str, str] = {}
            if self.traceparent:
                TraceContextTextMapPropagator().inject(headers)
            yield headers

    def note(self, **attributes: Any) -> None:
        """Attributes of the current span (an attempt's outcome)."""
        if self._tracer is None:
            return
        from opentelemetry import trace

        trace.get_current_span().set_attributes(attributes)


__all__ = ["Tracing"]
