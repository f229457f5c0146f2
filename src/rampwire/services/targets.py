"""The worker's endpoint cache: each endpoint's send settings (a
:class:`~rampwire.delivery.sender.Target`: URL, dialect, decrypted credentials, headers, policy,
limits), reused for :data:`ENDPOINT_CACHE_S`, one entry per endpoint.

A worker that delivers to a few endpoints reads each one every couple of seconds; one that
delivers to thousands (many partners, each with its own endpoints) meets most of them once per
claim or less, so their entries have expired by the next delivery. Reading each alone cost a
query per delivery; :meth:`Targets.prefetch` reads all of a claim's endpoints that are missing
or due for a reload in one query, before their sends start (:class:`~rampwire.cache.Loaded`).
An endpoint whose row has not changed since it was last read (same ``updated_at``) is not
decoded and decrypted again, and its settings are reused as they were built unless they depend
on the time or on rampwire's own keys (:func:`_reusable`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..cache import Loaded
from ..crypto import SecretBox
from ..delivery.endpoints import KEY_SIGNED, Endpoint
from ..delivery.retry import policy_from_json
from ..delivery.sender import Target
from ..dialects import get_dialect
from ..dialects.errors import DialectError
from ..repository.endpoints import EndpointRepository
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..storage import Database
from ..types import utcnow
from . import signing

log = logging.getLogger("rampwire.worker")

ENDPOINT_CACHE_S = 2.0  # how long an endpoint's settings are reused
ENDPOINT_REFRESH_S = 0.5  # an entry this close to expiry is reloaded in the background
MAX_TARGETS = 16_384  # endpoints whose settings are kept, at most (those used in the last 2 s)

# An endpoint's send settings; None when it is gone or disabled, a reason when its credentials
# are unusable.
Found = Target | str | None


class Targets:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._endpoints = EndpointRepository(db, box)
        self._signing_keys = SigningKeyRepository(db, box)
        self._webhook_keys = WebhookKeyRepository(db, box)
        # the endpoints last read and what was built of them, oldest read first
        self._known: dict[str, tuple[Endpoint, Found]] = {}
        self._cache: Loaded[str, Found] = Loaded(
            self._lookup,
            load_many=self._lookup_many,
            ttl_s=ENDPOINT_CACHE_S,
            refresh_s=ENDPOINT_REFRESH_S,
            name="endpoint",
            log=log,
            max_entries=MAX_TARGETS,
        )

    async def get(self, endpoint_id: str) -> Found:
        """Cached, one lookup per endpoint at a time, reloaded in the background before it
        expires."""
        return await self._cache.get(endpoint_id)

    def prefetch(self, endpoint_ids: Iterable[str]) -> None:
        """Start reading, in one query, those of ``endpoint_ids`` not cached or due for a reload."""
        self._cache.prefetch(endpoint_ids)

    def forget(self, endpoint_id: str) -> None:
        """Drop the cached settings, and keep a lookup in progress from caching its answer."""
        self._cache.forget(endpoint_id)

    def close(self) -> None:
        self._cache.close()

    async def _lookup(self, endpoint_id: str) -> Found:
        return (await self._lookup_many([endpoint_id]))[endpoint_id]

    async def _lookup_many(self, endpoint_ids: Sequence[str]) -> dict[str, Found]:
        known = self._known
        endpoints = await self._endpoints.get_many(
            endpoint_ids,
            known={i: known[i][0] for i in endpoint_ids if i in known},
        )
        keys = signing.OwnKeys(self._signing_keys, self._webhook_keys, now=utcnow())  # once a batch
        found: dict[str, Found] = {}
        for endpoint_id in endpoint_ids:
            endpoint = endpoints.get(endpoint_id)
            before = known.pop(endpoint_id, None)
            target: Found = None
            if endpoint is None:
                pass
            elif before is not None and before[0] is endpoint and _reusable(endpoint):
                target = before[1]  # unchanged, and nothing in it depends on the time
            elif endpoint.enabled:
                try:
                    target = await self._build(endpoint, keys)
                except DialectError as exc:
                    log.error("endpoint %s: unusable credentials: %s", endpoint_id, exc)
                    target = f"endpoint credentials unusable: {exc}"
            if endpoint is not None:
                known[endpoint_id] = (endpoint, target)  # last: the most recently read
            found[endpoint_id] = target
        while len(known) > MAX_TARGETS:
            del known[next(iter(known))]
        return found

    async def _build(self, endpoint: Endpoint, keys: signing.OwnKeys) -> Target:
        dialect = get_dialect(endpoint.dialect)
        policy = dialect.policy
        if endpoint.retry_policy is not None:
            policy = policy_from_json(endpoint.retry_policy, base=dialect.policy)
        credentials = await signing.credentials(
            dialect, endpoint.signing_secrets(utcnow()), signatures=endpoint.signatures, keys=keys
        )
        return Target(
            endpoint_id=endpoint.id,
            url=endpoint.url,
            dialect=dialect,
            credentials=credentials,
            headers=dict(endpoint.headers),
            policy=policy,
            max_in_flight=endpoint.max_in_flight,
            rate_limit=endpoint.rate_limit,
            traceparent=endpoint.traceparent,
        )


def _reusable(endpoint: Endpoint) -> bool:
    """Whether what was built of an unchanged endpoint can be used again: not when it signs
    with rampwire's own keys (they rotate apart from the endpoint) or holds a rotated-out secret
    (it stops signing when it expires)."""
    return (
        endpoint.dialect not in KEY_SIGNED
        and "v1a" not in endpoint.signatures
        and all(secret.expires_at is None for secret in endpoint.secrets)
    )
