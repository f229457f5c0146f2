"""Tracing for the benchmarks: sampled like ``RAMPWIRE_TRACING_SAMPLE``, spans batched and
exported to a sink that drops them (what a process pays, the network aside)."""

from __future__ import annotations

from typing import Any

from rampwire.tracing import Tracing


def sink_tracing(ratio: float) -> Tracing:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Sink(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(Sink()))
    return Tracing(provider)
