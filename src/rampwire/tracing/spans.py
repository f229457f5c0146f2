"""OpenTelemetry spans, optional (``pip install 'rampwire[tracing]'``) and off by default: a
server span per API and ingest request, a span per sweep of the stuck-order sweeper, and a span
per delivery attempt in the trace of the span that produced its event, so one trace view shows
"partner called the API → order changed → webhook attempted three times → delivered".

Which span produced an event travels with the event: while a producing span is open,
:func:`trace_context` gives its W3C context in the form stored in ``events.trace_context``; the
repositories write it in the event's own insert, and the worker that claims the delivery, in
this process or another, reads it back with the claim (:meth:`Tracing.attempt`).

With tracing off, or the extra not installed, every method costs one attribute test, and
:func:`trace_context` one context variable read (None: nothing is written).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanContext, Tracer

log = logging.getLogger("rampwire.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_NO_HEADERS: Mapping[str, str] = {}
# The stored context of the span producing events in this task, set only while tracing is on.
_PRODUCING: ContextVar[str | None] = ContextVar("rampwire_trace_context", default=None)


def trace_context() -> str | None:
    """The W3C context of the span producing events here, as ``events.trace_context`` keeps
    it (the ``traceparent``, then a line with the ``tracestate`` when there is one); None when
    tracing is off or no producing span is open."""
    return _PRODUCING.get()


def _stored_context(context: SpanContext) -> str | None:
    """A span's context as ``events.trace_context`` keeps it: W3C ``traceparent`` (version 00),
    then a line with the ``tracestate`` when there is one."""
    if not context.is_valid:
        return None
    parent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    state = context.trace_state.to_header() if context.trace_state else ""
    return f"{parent}\n{state}" if state else parent


def _sampled(stored: str) -> bool:
    """Whether a stored context's ``traceparent`` has its sampled flag set."""
    parent = stored.partition("\n")[0]
    try:
        return bool(int(parent[-2:], 16) & 1)
    except ValueError:
        return True  # not ours to judge: the propagator decides


def _carrier(stored: str) -> dict[str, str]:
    parent, _, state = stored.partition("\n")
    return {TRACEPARENT: parent, TRACESTATE: state} if state else {TRACEPARENT: parent}


class Tracing:
    """The spans of one process; ``Tracing()`` traces nothing."""

    def __init__(self, provider: TracerProvider | None = None):
        """``provider``: an SDK tracer provider (None: off)."""
        self.enabled = provider is not None
        self._provider = provider
        self._tracer: Tracer | None = provider.get_tracer("rampwire") if provider else None

    @classmethod
    def from_settings(cls, sample_ratio: float) -> Tracing:
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
        return cls(provider)

    def shutdown(self) -> None:
        """Export what is pending (at the end of the process)."""
        if self._provider is not None:
            self._provider.shutdown()

    @contextmanager
    def request(self, name: str, headers: Mapping[str, str], **attributes: Any) -> Iterator[None]:
        """A server span around an HTTP request; a caller's ``traceparent`` makes it a child.
        The events it produces carry its context (:func:`trace_context`)."""
        if self._tracer is None:
            yield
            return
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        parent = TraceContextTextMapPropagator().extract(headers)
        with self._producing(name, parent, SpanKind.SERVER, attributes):
            yield

    @contextmanager
    def task(self, name: str, **attributes: Any) -> Iterator[None]:
        """A root span around a background task's pass (a sweep); the events it produces
        carry its context."""
        if self._tracer is None:
            yield
            return
        from opentelemetry import context as otel_context
        from opentelemetry.trace import SpanKind

        with self._producing(name, otel_context.Context(), SpanKind.INTERNAL, attributes):
            yield

    @contextmanager
    def _producing(
        self, name: str, parent: Any, kind: Any, attributes: Mapping[str, Any]
    ) -> Iterator[None]:
        assert self._tracer is not None
        with self._tracer.start_as_current_span(
            name, context=parent, kind=kind, attributes=attributes
        ) as span:
            token = _PRODUCING.set(_stored_context(span.get_span_context()))
            try:
                yield
            finally:
                _PRODUCING.reset(token)

    @contextmanager
    def attempt(
        self,
        event_id: str,
        produced_by: str | None,
        *,
        traceparent: bool = False,
        **attributes: Any,
    ) -> Iterator[Mapping[str, str]]:
        """A span around one delivery attempt, a child of (and linked to) the span that
        produced the event (``produced_by``: its stored context, :func:`trace_context`; None:
        a root of its own). Yields the headers to send with it: ``traceparent`` (and
        ``tracestate``) naming this span when ``traceparent`` is asked for."""
        tracer = self._tracer
        # A producer that was not sampled: the parent-based sampler would drop this span too,
        # so none is made, unless the receiver is to see the trace continued.
        if tracer is None or (
            produced_by is not None and not traceparent and not _sampled(produced_by)
        ):
            yield _NO_HEADERS
            return
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        propagator = TraceContextTextMapPropagator()
        attributes["rampwire.event_id"] = event_id
        # In the producing span's trace, as its child, and linked to it as well (a viewer that
        # shows links only); without one, a root of its own.
        parent = otel_context.Context()
        links = []
        if produced_by is not None:
            parent = propagator.extract(_carrier(produced_by))
            origin = trace.get_current_span(parent).get_span_context()
            if origin.is_valid:
                links = [Link(origin)]
        with tracer.start_as_current_span(
            "webhook attempt",
            context=parent,
            kind=SpanKind.CLIENT,
            links=links,
            attributes=attributes,
        ):
            headers: dict[str, str] = {}
            if traceparent:
                propagator.inject(headers)
            yield headers

    def note(self, **attributes: Any) -> None:
        """Attributes of the current span (an attempt's outcome)."""
        if self._tracer is None:
            return
        from opentelemetry import trace

        trace.get_current_span().set_attributes(attributes)


__all__ = ["TRACEPARENT", "Tracing", "trace_context"]
