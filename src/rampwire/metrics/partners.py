"""Which partners get a label value of their own (``RAMPWIRE_METRICS_PARTNER_LABELS``), so the
per-partner counters stay few whatever the number of partners: the named partners, everyone
else as ``other``, and the operator's own orders as ``operator``.

Two forms: a list of partner ids (``ptn_a,ptn_b``), or ``top:N``, the N partners with the most
orders when the process starts (:meth:`PartnerLabels.ranked`; fixed for the process's life, so a
series never changes hands). Either way a counter has at most N + 2 partner values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

OTHER = "other"
OPERATOR = "operator"
MAX_NAMED = 100  # partner values of their own, at most
_TOP = re.compile(r"top:(\d+)")
_PARTNER = re.compile(r"ptn_[0-9A-Za-z]{10,}")


@dataclass(frozen=True, slots=True)
class PartnerLabels:
    top: int = 0  # > 0: the busiest ``top`` partners, chosen by :meth:`ranked`
    named: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str) -> PartnerLabels | None:
        """``top:N`` or comma-separated partner ids; empty: None (no per-partner counters).
        Raises ``ValueError`` saying what is wrong."""
        text = text.strip()
        if not text:
            return None
        if top := _TOP.fullmatch(text):
            count = int(top[1])
            if not 1 <= count <= MAX_NAMED:
                raise ValueError(f"top:N takes N from 1 to {MAX_NAMED}, not {count}")
            return cls(top=count)
        ids = [part.strip() for part in text.split(",") if part.strip()]
        bad = [part for part in ids if not _PARTNER.fullmatch(part)]
        if bad:
            raise ValueError(f"{bad[0]!r} is neither top:N nor a partner id (ptn_...)")
        if len(set(ids)) > MAX_NAMED:
            raise ValueError(f"at most {MAX_NAMED} partner ids")
        return cls(named=frozenset(ids))

    def ranked(self, busiest: Iterable[str]) -> PartnerLabels:
        """``top:N``: these labels naming the first N of ``busiest`` (partner ids, busiest
        first); a list names its partners already."""
        if not self.top:
            return self
        return dataclasses.replace(self, named=frozenset(list(busiest)[: self.top]))

    def label(self, partner_id: str | None) -> str:
        """The value a count for ``partner_id`` (None: the operator's) goes to."""
        if partner_id is None:
            return OPERATOR
        return partner_id if partner_id in self.named else OTHER


__all__ = ["OPERATOR", "OTHER", "PartnerLabels"]
