"""The inbound pipeline: a provider's request → verified → recorded and applied, or refused.

Per request, in order: the size limit (the API's body limit, before anything is read), the
source's dialect verifies and decodes it, then :meth:`InboundRepository.receive` de-duplicates,
stores the raw request, maps and merges it into the order and writes the canonical events and
their deliveries, all in one transaction. A refused request writes nothing; it is counted in
:class:`SourceStats` (per process) and logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import logs
from ..cache import Loaded
from ..dialects import SaberAuth, get_dialect
from ..dialects.base import DecodedEvent, Dialect
from ..dialects.errors import DialectError
from ..domain.orders import Provider
from ..errors import Conflict, NotFound, RampwireError
from ..ingest.inbound import InboundRecord, InboundRequest
from ..ingest.sources import IngestSource, SourceError, build_credentials
from ..metrics import Metrics
from ..repository.inbound import InboundRepository, IngestResult
from ..repository.sources import SourceRepository

log = logging.getLogger("rampwire.ingest")

SOURCE_CACHE_S = 2.0  # how long a source's settings are reused before they are read again
SOURCE_REFRESH_S = 0.5  # a source this close to expiry is read again in the background


class SourceDisabled(RampwireError):
    """The source is disabled: the provider should retry later."""


@dataclass(kw_only=True, slots=True)
class SourceStats:
    """What this process saw for one source since it started."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_rejected_at: datetime | None = None
    last_rejection: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # rejected, by the dialect's code


@dataclass(frozen=True, kw_only=True, slots=True)
class _Verifier:
    source: IngestSource
    credentials: Any
    dialect: Dialect[Any]  # the source's, looked up once with it
    provider: str  # ``source.provider.value``: a label on every request's metrics


class Ingestor:
    def __init__(
        self, sources: SourceRepository, inbound: InboundRepository, metrics: Metrics | None = None
    ) -> None:
        self._sources = sources
        self._metrics = metrics or Metrics(enabled=False)
        self._inbound = inbound
        # each source and its credentials, read once per SOURCE_CACHE_S however many requests
        # arrive meanwhile
        self._verifiers: Loaded[str, _Verifier] = Loaded(
            self._read, ttl_s=SOURCE_CACHE_S, refresh_s=SOURCE_REFRESH_S, name="source", log=log
        )
        self.stats: dict[str, SourceStats] = {}

    def forget(self, source_id: str) -> None:
        """The source changed: read it again on its next request."""
        self._verifiers.forget(source_id)

    def close(self) -> None:
        """Stop the source reads in progress (before the database closes)."""
        self._verifiers.close()

    async def _read(self, source_id: str) -> _Verifier:
        source = await self._sources.get(source_id)
        try:
            credentials = build_credentials(source.provider, source.credentials, source.options)
        except SourceError as exc:  # stored credentials were checked on the way in
            raise Conflict(f"source {source_id} has unusable credentials: {exc}") from exc
        return _Verifier(
            source=source,
            credentials=credentials,
            dialect=get_dialect(source.provider.value),
            provider=source.provider.value,
        )

    async def receive(
        self, source_id: str, request: InboundRequest, *, now: datetime
    ) -> IngestResult:
        metrics = self._metrics
        verifier = self._verifiers.fresh(source_id)  # a plain call: no coroutine to run
        if verifier is None:
            try:
                verifier = await self._verifiers.get(source_id)
            except NotFound:  # any id can be asked for: not a label of its own
                metrics.ingested(source="unknown", outcome="refused", reason="unknown_source")
                raise
        source = verifier.source
        partner = source.partner_id
        if partner is not None:  # tag() leaves None out: a call for nothing
            logs.tag(partner_id=partner)
        if source.disabled_at is not None:  # not ``enabled``: a property is a call
            metrics.ingested(
                source=source_id, outcome="refused", reason="source_disabled", partner=partner
            )
            raise SourceDisabled(f"source {source_id} is disabled")
        stats = self.stats.get(source_id)
        if stats is None:  # not ``setdefault``: it would make a SourceStats per request
            stats = self.stats[source_id] = SourceStats()
        started = time.perf_counter()
        try:
            events = verifier.dialect.decode(  # _decode(), written out
                request.headers,
                request.body,
                verifier.credentials,
                now=now,
                peer_ip=request.peer_ip,
                url_token=request.url_token,
            )
        except DialectError as exc:
            metrics.ingested(source=source_id, outcome="refused", reason=exc.code, partner=partner)
            stats.rejected += 1
            stats.reasons[exc.code] = stats.reasons.get(exc.code, 0) + 1
            stats.last_rejected_at = now
            stats.last_rejection = f"{exc.code}: {exc.message}"
            log.warning(
                "ingest %s (%s) refused a request from %s: %s: %s",
                source_id,
                verifier.provider,
                request.peer_ip or "?",
                type(exc).__name__,
                exc.message,
            )
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.verified(provider=verifier.provider, seconds=seconds)
        result = await self._inbound.receive(source, request, events, now=now)
        if result.record is not None and result.record.order_id is not None:
            logs.tag(order_id=result.record.order_id)
        if result.duplicate:
            stats.duplicates += 1
            metrics.ingested(source=source_id, outcome="duplicate", partner=partner)
        else:
            stats.accepted += 1
            outcome = str(result.record.outcome) if result.record is not None else "applied"
            metrics.ingested(source=source_id, outcome=outcome, partner=partner)
        record = result.record
        if result.waiting and record is not None and record.provider_order_id:
            await self._catch_up(record.provider, record.provider_order_id, now=now)
        return result

    async def _catch_up(self, provider: Provider, provider_order_id: str, *, now: datetime) -> None:
        """Apply the requests that arrived before this request created their order (they named
        no side). They have all committed: ingest holds one transaction per provider order at a
        time. Each is applied in its own transaction; one that fails stays ``unapplied``."""
        for waiting in await self._inbound.unapplied(provider, provider_order_id):
            try:
                await self.reprocess(waiting, now=now)
            except RampwireError:
                log.exception("re-processing %s for %s failed", waiting.id, provider_order_id)

    async def reprocess(self, record: InboundRecord, *, now: datetime) -> InboundRecord:
        """Decode a logged request again and apply it.

        Signatures are checked again against the source's current credentials, at the time the
        request was received (so signed-time windows and token expiry hold as they did then). A
        Saber ``token`` source's URL token is not logged; the log's record of it stands in.
        """
        verifier = await self._verifiers.get(record.source_id)
        request = InboundRequest(
            headers=record.headers,
            body=record.body.encode("utf-8"),
            received_at=record.received_at,
            peer_ip=record.peer_ip,
        )
        token = None
        credentials = verifier.credentials
        if getattr(credentials, "mode", None) is SaberAuth.TOKEN:
            token = credentials.url_token.reveal()
        try:
            events = self._decode(verifier, request, now=record.received_at, url_token=token)
        except DialectError as exc:
            raise Conflict(f"the logged request no longer verifies: {exc.message}") from exc
        return await self._inbound.reprocess(
            record,
            request,
            events,
            now=now,
            default_side=verifier.source.default_side,
            partner_id=verifier.source.partner_id,
        )

    def _decode(
        self,
        verifier: _Verifier,
        request: InboundRequest,
        *,
        now: datetime,
        url_token: str | None,
    ) -> list[DecodedEvent]:
        return verifier.dialect.decode(
            request.headers,
            request.body,
            verifier.credentials,
            now=now,
            peer_ip=request.peer_ip,
            url_token=url_token,
        )


__all__ = ["Ingestor", "SourceDisabled", "SourceStats"]
