"""Tracing for the benchmarks: sampled like ``RAMPWIRE_TRACING_SAMPLE``, spans batched and
exported to a sink that drops them (what a process pays, the network aside)."""

from __future__ import annotations

from typing import Any

from rampwire.tracing import Tracing


def sink_tracing(ratio: float) -> Tracing:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Sink(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Tracing.sampled(ratio, BatchSpanProcessor(Sink()))
