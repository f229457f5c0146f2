"""Head sampling (:mod:`rampwire.tracing.head`): root spans decided before the SDK is asked
must be decided, and given contexts, exactly as the SDK's ``ParentBased(TraceIdRatioBased)``
would, for any trace id; sampled roots are the SDK's, with the drawn trace id."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from rampwire.tracing import Tracing, trace_context
from rampwire.tracing.head import Head

RATIOS = st.sampled_from([0.0, 0.001, 0.1, 0.5, 0.999, 1.0])
TRACE_IDS = st.integers(min_value=1, max_value=(1 << 128) - 1)


class _Given(RandomIdGenerator):
    """The SDK's ids, the trace id set by the test."""

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id

    def generate_trace_id(self) -> int:
        return self.trace_id


@settings(max_examples=300)
@given(ratio=RATIOS, trace_id=TRACE_IDS)
def test_a_root_is_decided_as_the_sdk_decides_it(ratio: float, trace_id: int) -> None:
    sdk = ParentBased(TraceIdRatioBased(ratio)).should_sample(Context(), trace_id, "span")
    assert Head(ratio).sampled(trace_id) == sdk.decision.is_sampled()


@settings(max_examples=100)
@given(ratio=RATIOS, trace_id=TRACE_IDS)
def test_a_root_has_the_context_the_sdk_would_give_it(ratio: float, trace_id: int) -> None:
    head = Head(ratio)
    head._ids.next = trace_id  # the id the head draws next: the one the SDK is given below
    ours = head.root(head.provider.get_tracer("t"), "span", SpanKind.SERVER, {})
    sdk = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(ratio)), id_generator=_Given(trace_id)
    )
    theirs = sdk.get_tracer("t").start_span("span", context=Context(), kind=SpanKind.SERVER)
    mine, want = ours.get_span_context(), theirs.get_span_context()
    assert (mine.trace_id, mine.trace_flags, mine.is_remote, mine.trace_state) == (
        want.trace_id,
        want.trace_flags,
        want.is_remote,
        want.trace_state,
    )
    assert ours.is_recording() == theirs.is_recording()
    assert mine.is_valid and head._ids.next is None


def test_only_the_sampled_requests_are_recorded_and_every_one_stores_its_context() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.sampled(0.5, SimpleSpanProcessor(exporter))
    stored = []
    for _ in range(400):
        with tracing.request("POST /ingest", {}):
            stored.append(trace_context())
    parents = [context.split("-") for context in stored if context is not None]
    assert len(parents) == 400 and len({trace for _, trace, _, _ in parents}) == 400
    sampled = {(trace, span) for _, trace, span, flags in parents if int(flags, 16) & 1}
    recorded = {
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
        for s in exporter.get_finished_spans()
    }
    assert recorded == sampled
    assert 120 < len(sampled) < 280  # about half: 400 draws at 0.5 (> 8 standard deviations)


def test_a_root_attempt_is_head_sampled_too() -> None:
    for ratio, spans in ((0.0, 0), (1.0, 1)):
        exporter = InMemorySpanExporter()
        tracing = Tracing.sampled(ratio, SimpleSpanProcessor(exporter))
        with tracing.attempt("evt_1", None):
            pass
        assert len(exporter.get_finished_spans()) == spans
