"""The stored trace context (``events.trace_context``) and the attempt span made from it, with an
in-memory exporter: a sampled producer's context makes a child span linked to it; an unsampled
one makes none (the parent-based sampler would drop it), unless the endpoint asks for
``traceparent``, which then continues the producer's trace, unsampled."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rampwire.tracing import Tracing, trace_context

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def _traced() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # parent-based, always on for roots
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


def test_a_request_span_is_the_stored_context_only_while_it_is_open() -> None:
    tracing, exporter = _traced()
    assert trace_context() is None
    with tracing.request("POST /v1/orders", {"tracestate": "vendor=x"}):
        stored = trace_context()
    assert trace_context() is None
    [span] = exporter.get_finished_spans()
    ids = f"{span.context.trace_id:032x}-{span.context.span_id:016x}"
    assert stored == f"00-{ids}-{span.context.trace_flags:02x}"
    assert span.context.trace_flags.sampled
    # a caller's context: the request is its child, and the tracestate is kept
    caller = {"traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "vendor=x"}
    with tracing.request("POST /v1/orders", caller):
        stored = trace_context()
    assert stored is not None
    parent, state = stored.split("\n")
    assert parent.startswith(f"00-{TRACE}-") and state == "vendor=x"


def test_a_sampled_producer_makes_a_child_attempt_linked_to_it() -> None:
    tracing, exporter = _traced()
    with tracing.attempt("evt_1", f"00-{TRACE}-{SPAN}-01") as headers:
        pass
    assert headers == {}
    [span] = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == SPAN
    assert [f"{link.context.span_id:016x}" for link in span.links] == [SPAN]


def test_an_unsampled_producer_makes_no_span_unless_traceparent_is_asked() -> None:
    tracing, exporter = _traced()
    with tracing.attempt("evt_1", f"00-{TRACE}-{SPAN}-00") as headers:
        pass
    assert headers == {} and exporter.get_finished_spans() == ()
    with tracing.attempt("evt_1", f"00-{TRACE}-{SPAN}-00", traceparent=True) as headers:
        pass
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "00") and span_id != SPAN
    assert exporter.get_finished_spans() == ()  # not sampled: nothing exported


def test_tracing_off_stores_nothing_and_sends_nothing() -> None:
    off = Tracing()
    with off.request("POST /v1/orders", {}):
        assert trace_context() is None
    with off.attempt("evt_1", f"00-{TRACE}-{SPAN}-01", traceparent=True) as headers:
        assert headers == {}


def test_an_exception_leaving_a_span_is_recorded_and_everything_is_restored() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import StatusCode

    tracing, exporter = _traced()
    before = trace.get_current_span()
    try:
        with tracing.request("POST /v1/orders", {}):
            assert trace.get_current_span().is_recording()  # the request's span is current
            raise ValueError("bad amount")
    except ValueError:
        pass
    assert trace_context() is None and trace.get_current_span() is before
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: bad amount"
    assert [event.name for event in span.events] == ["exception"]


def test_a_stored_tracestate_is_continued_and_a_malformed_context_makes_a_root() -> None:
    tracing, exporter = _traced()
    with tracing.attempt("evt_1", f"00-{TRACE}-{SPAN}-01\nvendor=x", traceparent=True) as headers:
        pass
    assert headers["tracestate"] == "vendor=x"
    assert headers["traceparent"].startswith(f"00-{TRACE}-")
    for malformed in (
        f"00-{TRACE}-{SPAN}",
        f"00-{TRACE[:-1]}z-{SPAN}-01",
        f"00-{'0' * 32}-{SPAN}-01",
    ):
        with tracing.attempt("evt_1", malformed):
            pass
    *_, first, second, third = exporter.get_finished_spans()
    for root in (first, second, third):
        assert root.parent is None and not root.links
        assert f"{root.context.trace_id:032x}" != TRACE
