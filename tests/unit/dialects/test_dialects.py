"""The package: registry, exported names, the status tables as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

import rampwire.dialects as package
from rampwire.dialects import DIALECTS, DialectName, UnknownDialect, get_dialect
from rampwire.domain.lifecycle import RANK
from rampwire.domain.orders import OrderStatus, Provider, Side

from .doc_tables import inbound_rows, outbound_rows
from .strategies import plain_order
from .support import expected_status

DOC = Path(__file__).parents[3] / "docs" / "dialects.md"


def test_every_name_is_registered_and_looked_up_case_insensitively() -> None:
    assert set(DIALECTS) == set(DialectName)
    for name in DialectName:
        assert get_dialect(name.value.upper()) is DIALECTS[name]
        assert DIALECTS[name].name is name
        assert DIALECTS[name].provider == (
            None if name is DialectName.STANDARD else Provider(name.value)
        )
    with pytest.raises(UnknownDialect, match="known: standard, revolut"):
        get_dialect("paypal")


def test_all_lists_every_public_name_once() -> None:
    assert len(set(package.__all__)) == len(package.__all__)
    for name in package.__all__:
        assert hasattr(package, name), name
    public = {
        n
        for n, v in vars(package).items()
        if not n.startswith("_") and type(v).__name__ != "module"
    }
    assert public - {"annotations", "Any", "Mapping"} == set(package.__all__)


@pytest.mark.parametrize("name", list(DialectName))
def test_every_status_maps_to_an_event_the_dialect_reads_back(name: DialectName) -> None:
    dialect = DIALECTS[name]
    for side in dialect.sides:
        for status in OrderStatus:
            event = dialect.to_provider(status, side)
            assert event in dialect.provider_events(side)
            assert dialect.from_provider(event, side) is not None


@pytest.mark.parametrize("name", list(DialectName))
def test_the_documented_tables_are_the_codes(name: DialectName) -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc[doc.index(f"\n## {name.value}\n") :]
    for row in outbound_rows(name) + inbound_rows(name):
        assert row in section, row


LATER = {
    ("revolut", "buy", "payment_received"),
    ("saber", "buy", "created"),
    ("saber", "buy", "pending_user_action"),
    ("saber", "buy", "awaiting_payment"),
    ("saber", "sell", "payment_submitted"),
    ("fireblocks", "buy", "payment_received"),
    ("fireblocks", "sell", "payment_received"),
    ("transak", "buy", "created"),
    ("transak", "buy", "pending_user_action"),
    ("transak", "sell", "created"),
    ("transak", "sell", "pending_user_action"),
    ("transak", "sell", "payment_received"),
}


def test_lossy_rows_read_back_later_only_where_documented() -> None:
    later = set()
    for name, dialect in DIALECTS.items():
        for side in dialect.sides:
            for status in OrderStatus:
                order = plain_order(side, status, dialect.provider)
                back = expected_status(name, order, status)
                if back is not None and RANK[back] > RANK[status]:
                    later.add((name.value, side.value, status.value))
    assert later == LATER


def test_the_documented_policies_are_the_codes() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name, dialect in DIALECTS.items():
        policy = dialect.policy
        row = next(line for line in doc.splitlines() if line.startswith(f"| {name.value} |"))
        assert f"| {policy.max_attempts} |" in row
        assert ("none" in row) == (policy.jitter == 0)
    assert DIALECTS[DialectName.REVOLUT].policy.retry_delays == (30, 300, 1800)
    for name in (DialectName.SABER, DialectName.KOYWE, DialectName.TRANSAK):
        assert DIALECTS[name].policy == DIALECTS[DialectName.STANDARD].policy


def test_revolut_is_the_only_one_sided_dialect() -> None:
    one_sided = [n for n, d in DIALECTS.items() if d.sides != frozenset(Side)]
    assert one_sided == [DialectName.REVOLUT]
