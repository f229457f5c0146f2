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


def switch(tracing: Tracing, on: bool) -> None:
    """Turn ``tracing`` off or back on in place, for a bench that alternates within one run
    (:mod:`.slices`). Off, it is what ``Tracing()`` is: no tracer and ``enabled`` false, so
    every span call returns at once; on, it has its tracer back. It reaches into the object on
    purpose: a process's tracing is not meant to change while it runs, and only a bench needs
    to see one process both ways."""
    saved = tracing.__dict__.setdefault("_bench_otel", tracing._otel)
    tracing._otel = saved if on else None
    tracing.enabled = on


def switch_on_signals(tracing: Tracing) -> None:
    """SIGUSR1 turns ``tracing`` on, SIGUSR2 off (:func:`switch`), in a child process whose
    parent alternates. Python runs the handler on the main thread, between two bytecodes."""
    import signal

    signal.signal(signal.SIGUSR1, lambda *_: switch(tracing, True))
    signal.signal(signal.SIGUSR2, lambda *_: switch(tracing, False))
