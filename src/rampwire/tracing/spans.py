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
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Link, Span, SpanContext, Tracer

    from .head import Head

log = logging.getLogger("rampwire.tracing")
T = TypeVar("T")

TRACEPARENT = "traceparent"
_NO_HEADERS: Mapping[str, str] = {}
_UNTRACED: AbstractContextManager[None] = nullcontext()
_UNSENT: AbstractContextManager[Mapping[str, str]] = nullcontext(_NO_HEADERS)
# The context of the span producing events in this task, set only while tracing is on; it is
# formatted only when an event asks for it (a request that writes nothing never formats it).
_PRODUCING: ContextVar[SpanContext | None] = ContextVar("rampwire_trace_context", default=None)


def trace_context() -> str | None:
    """The W3C context of the span producing events here, as ``events.trace_context`` keeps
    it (the ``traceparent``, then a line with the ``tracestate`` when there is one); None when
    tracing is off or no producing span is open."""
    producing = _PRODUCING.get()
    return None if producing is None else _stored_context(producing)


def _stored_context(context: SpanContext) -> str | None:
    """A span's context as ``events.trace_context`` keeps it: W3C ``traceparent`` (version 00),
    then a line with the ``tracestate`` when there is one."""
    if not context.is_valid:
        return None
    # %-formatting: 22 % fewer instructions than an f-string's format specs (callgrind)
    ids = (context.trace_id, context.span_id, context.trace_flags)
    parent = "00-%032x-%016x-%02x" % ids  # noqa: UP031
    state = context.trace_state
    return f"{parent}\n{state.to_header()}" if state else parent


def _sampled(stored: str) -> bool:
    """Whether a stored context's ``traceparent`` has its sampled flag set."""
    parent = stored.partition("\n")[0]
    try:
        return bool(int(parent[-2:], 16) & 1)
    except ValueError:
        return True  # not ours to judge: the propagator decides


class _Otel:
    """The OpenTelemetry names the spans use, imported once, when tracing is on."""

    def __init__(self, tracer: Tracer) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import (
            Link,
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
            TraceState,
        )
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = tracer
        self.attach, self.detach, self.root = context.attach, context.detach, context.Context
        self.in_context, self.span_of = trace.set_span_in_context, trace.get_current_span
        self.Link, self.server, self.client = Link, SpanKind.SERVER, SpanKind.CLIENT
        self.SpanContext, self.TraceFlags, self.TraceState = SpanContext, TraceFlags, TraceState
        self.NonRecordingSpan = NonRecordingSpan
        self.internal = SpanKind.INTERNAL
        self.Status, self.error = Status, StatusCode.ERROR
        self.propagator = TraceContextTextMapPropagator()

    def producer(self, stored: str) -> SpanContext | None:
        """The producing span's context, from the form :func:`_stored_context` wrote, read
        directly rather than through the propagator's regular expression (in the worker's loop
        it was a large share of a sampled attempt span); None for anything else: the attempt is
        then a root, as the propagator would make it."""
        parent, _, state = stored.partition("\n")
        fields = parent.split("-")
        if [len(field) for field in fields] != [2, 32, 16, 2] or fields[0] != "00":
            return None
        try:
            trace_id, span_id, flags = (int(field, 16) for field in fields[1:])
        except ValueError:
            return None
        context = self.SpanContext(
            trace_id,
            span_id,
            is_remote=True,
            trace_flags=self.TraceFlags(flags),
            trace_state=self.TraceState.from_header([state]) if state else None,
        )
        return context if context.is_valid else None


class _Current(AbstractContextManager[T], Generic[T]):
    """A started span, current while the block runs (what is opened inside is its child) and
    ended after it; an ``Exception`` escaping the block is recorded on it with an error status,
    as OpenTelemetry's ``start_as_current_span`` does. A producing span's context is the one
    the events written meanwhile store (:func:`trace_context`). One class rather than nested
    generator context managers, which cost more than an unsampled span itself."""

    __slots__ = ("_entered", "_otel", "_produced", "_produces", "_span", "_token")

    def __init__(self, otel: _Otel, span: Span, *, produces: bool, entered: T) -> None:
        """``entered``: what the ``with`` statement gives (an attempt's headers)."""
        self._otel, self._span, self._produces, self._entered = otel, span, produces, entered
        self._produced: Token[SpanContext | None] | None = None

    def __enter__(self) -> T:
        span = self._span
        self._token = self._otel.attach(self._otel.in_context(span))
        if self._produces:
            self._produced = _PRODUCING.set(span.get_span_context())
        return self._entered

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        try:
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                status = self._otel.Status(self._otel.error, f"{type(exc).__name__}: {exc}")
                span.set_status(status)
        finally:
            if self._produced is not None:
                _PRODUCING.reset(self._produced)
            self._otel.detach(self._token)
            span.end()


class Tracing:
    """The spans of one process; ``Tracing()`` traces nothing."""

    def __init__(self, provider: TracerProvider | None = None, *, head: Head | None = None):
        """``provider``: an SDK tracer provider (None: off), whose sampler decides every span;
        or ``head``, whose provider it is, deciding root spans first (:meth:`sampled`)."""
        provider = head.provider if head is not None else provider
        self.enabled = provider is not None
        self._provider = provider
        self._head = head
        self._otel = _Otel(provider.get_tracer("rampwire")) if provider else None

    @classmethod
    def sampled(
        cls, ratio: float, processor: SpanProcessor, *, service: str = "rampwire"
    ) -> Tracing:
        """Root spans sampled at ``ratio`` and the rest parent-based, as the SDK's
        ``ParentBased(TraceIdRatioBased(ratio))``, with an unsampled root's span made without
        the SDK (:mod:`.head`); recorded spans go to ``processor``."""
        from opentelemetry.sdk.resources import Resource

        from .head import Head

        head = Head(ratio, Resource.create({"service.name": service}))
        head.provider.add_span_processor(processor)
        return cls(head=head)

    @classmethod
    def from_settings(cls, sample_ratio: float) -> Tracing:
        """Spans sampled at ``sample_ratio`` (0: off; :meth:`sampled`), exported over
        OTLP/HTTP to where the standard ``OTEL_EXPORTER_OTLP_*`` variables say (default
        ``localhost:4318``)."""
        if sample_ratio <= 0:
            return cls()
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning("tracing asked for, but not installed: pip install 'rampwire[tracing]'")
            return cls()
        return cls.sampled(sample_ratio, BatchSpanProcessor(OTLPSpanExporter()))

    def shutdown(self) -> None:
        """Export what is pending (at the end of the process)."""
        if self._provider is not None:
            self._provider.shutdown()

    def request(
        self, name: str, headers: Mapping[str, str], **attributes: Any
    ) -> AbstractContextManager[None]:
        """A server span around an HTTP request; a caller's ``traceparent`` makes it a child.
        The events it produces carry its context (:func:`trace_context`)."""
        otel = self._otel
        if otel is None:
            return _UNTRACED
        if TRACEPARENT in headers:
            parent = otel.propagator.extract(headers)
            span = otel.tracer.start_span(name, parent, otel.server, attributes)
        else:  # most callers: a root, as the propagator would make it
            span = self._root(otel, name, otel.server, attributes)
        return _Current(otel, span, produces=True, entered=None)

    def task(self, name: str, **attributes: Any) -> AbstractContextManager[None]:
        """A root span around a background task's pass (a sweep); the events it produces
        carry its context."""
        otel = self._otel
        if otel is None:
            return _UNTRACED
        span = self._root(otel, name, otel.internal, attributes)
        return _Current(otel, span, produces=True, entered=None)

    def _root(
        self,
        otel: _Otel,
        name: str,
        kind: Any,
        attributes: Mapping[str, Any],
        links: Sequence[Link] = (),
    ) -> Span:
        """The first span of a new trace: decided by the head first when there is one."""
        if self._head is not None:
            return self._head.root(otel.tracer, name, kind, attributes, links)
        return otel.tracer.start_span(name, otel.root(), kind, attributes, links)

    def attempt(
        self,
        event_id: str,
        produced_by: str | None,
        *,
        traceparent: bool = False,
        **attributes: Any,
    ) -> AbstractContextManager[Mapping[str, str]]:
        """A span around one delivery attempt, a child of (and linked to) the span that
        produced the event (``produced_by``: its stored context, :func:`trace_context`; None:
        a root of its own). Yields the headers to send with it: ``traceparent`` (and
        ``tracestate``) naming this span when ``traceparent`` is asked for."""
        otel = self._otel
        # A producer that was not sampled: the parent-based sampler would drop this span too,
        # so none is made, unless the receiver is to see the trace continued.
        if otel is None or (
            produced_by is not None and not traceparent and not _sampled(produced_by)
        ):
            return _UNSENT
        attributes["rampwire.event_id"] = event_id
        # In the producing span's trace, as its child, and linked to it as well (a viewer that
        # shows links only); without one, a root of its own.
        origin = None if produced_by is None else otel.producer(produced_by)
        if origin is None:
            span = self._root(otel, "webhook attempt", otel.client, attributes)
        else:
            parent = otel.in_context(otel.NonRecordingSpan(origin))
            span = otel.tracer.start_span(
                "webhook attempt",
                context=parent,
                kind=otel.client,
                links=[otel.Link(origin)],
                attributes=attributes,
            )
        headers: dict[str, str] = {}
        if traceparent:
            otel.propagator.inject(headers, context=otel.in_context(span))
        return _Current[Mapping[str, str]](otel, span, produces=False, entered=headers)

    def note(self, **attributes: Any) -> None:
        """Attributes of the current span (an attempt's outcome)."""
        if self._otel is not None:
            self._otel.span_of().set_attributes(attributes)


__all__ = ["TRACEPARENT", "Tracing", "trace_context"]
