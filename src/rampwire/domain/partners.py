"""Partners: the tenants one rampwire serves (a ramp's business customers, a platform's apps).

Each partner owns its orders, keys, endpoints, sources and authorization callback; what names no
partner is the operator's. A partner is ``active`` or ``suspended``: a suspended partner's keys
are refused and its deliveries wait, kept, until it is resumed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

PARTNER_ID_PREFIX = "ptn"
MAX_PARTNER_NAME = 200
MAX_METADATA_BYTES = 8192  # a partner's metadata, serialised: labels, not documents


class PartnerStatus(StrEnum):
    """Stored as the value."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, kw_only=True, slots=True)
class Partner:
    id: str
    name: str
    status: PartnerStatus
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status is PartnerStatus.ACTIVE

    def replace(self, **changes: Any) -> Partner:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True, slots=True)
class Tenant:
    """Whose objects a request may see: one partner's, or everything (the operator, who may
    narrow a listing to one partner with ``only``)."""

    partner_id: str | None = None  # set: a partner key, bound to this partner
    only: str | None = None  # an operator's filter on a listing

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None

    @property
    def filter(self) -> str | None:
        """The partner a query is limited to, if any."""
        return self.partner_id if self.partner_id is not None else self.only

    def owns(self, partner_id: str | None) -> bool:
        """Whether an object of ``partner_id`` (None: the operator's) is visible."""
        return self.partner_id is None or self.partner_id == partner_id

    def owner_for_new(self, given: str | None) -> str | None:
        """The partner a new object belongs to: a partner key's own, else what the operator
        gave (None: the operator's)."""
        return self.partner_id if self.partner_id is not None else given


OPERATOR = Tenant()
