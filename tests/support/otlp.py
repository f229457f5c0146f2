"""Spans exported over OTLP/HTTP by other processes, as a collector would see them: the
requests a :func:`tests.support.receivers.receiver` got at ``/v1/traces``, decoded with
``opentelemetry-proto`` (installed with the exporter)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .receivers import Received


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root
    links: list[tuple[str, str]]  # (trace id, span id)
    attributes: dict[str, object]
    resource: dict[str, object]


def _values(attributes: object) -> dict[str, object]:
    found: dict[str, object] = {}
    for kv in attributes:  # type: ignore[attr-defined]
        kind = kv.value.WhichOneof("value")
        found[kv.key] = getattr(kv.value, kind) if kind else None
    return found


def spans(requests: list[Received]) -> list[ExportedSpan]:
    """Every span of every export request received."""
    found = []
    for got in requests:
        export = ExportTraceServiceRequest()
        export.ParseFromString(got.body)
        for resource_spans in export.resource_spans:
            resource = _values(resource_spans.resource.attributes)
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    found.append(
                        ExportedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            links=[(ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links],
                            attributes=_values(span.attributes),
                            resource=resource,
                        )
                    )
    return found
