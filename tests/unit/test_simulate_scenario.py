"""Scenario files: what they fix, and the clear error for each mistake."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rampwire.domain.orders import OrderStatus, Side
from rampwire.simulate import Fault
from rampwire.simulate.scenario import ScenarioError, load_scenario, read_scenario


def test_a_scenario_fixes_orders_steps_amounts_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'provider = "koywe"\nseed = 3\nspeed = 60\n[faults]\nduplicate = 0.5\n'
        '[[orders]]\nid = "k-1"\nside = "sell"\nsteps = ["payment_created", "fiat_delivered"]\n'
        'crypto_amount = "12.5"\nfaults = { python_json = 1 }\n'
        '[[orders]]\npath = "expired"\n'
    )
    scenario = load_scenario(path)
    assert (scenario.provider, scenario.seed, scenario.speed) == ("koywe", 3, 60.0)
    assert scenario.faults == {Fault.DUPLICATE: 0.5}
    first, second = scenario.orders
    assert first.order_id == "k-1" and first.lifecycle.side is Side.SELL
    assert [s.status for s in first.lifecycle.steps] == [OrderStatus.CREATED, OrderStatus.COMPLETED]
    assert first.crypto_amount == Decimal("12.5")
    assert first.faults == {Fault.PYTHON_JSON: 1.0}
    assert second.lifecycle.path == "expired" and second.faults is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "provider is required"),
        ({"provider": "paypal", "orders": [{}]}, "no dialect is called 'paypal'"),
        ({"provider": "revolut"}, "at least one"),
        ({"provider": "revolut", "orders": [{"path": "happy"}], "colour": 1}, "unknown keys"),
        ({"provider": "revolut", "orders": [{"path": "lost"}]}, "no path is called 'lost'"),
        ({"provider": "revolut", "orders": [{"side": "sell", "path": "happy"}]}, "no sell"),
        ({"provider": "revolut", "orders": [{}]}, "either path or steps"),
        ({"provider": "revolut", "orders": [{"steps": ["ORDER_LOST"]}]}, "ORDER_LOST"),
        ({"provider": "revolut", "orders": [{"path": "happy", "fiat_amount": "x"}]}, "decimal"),
        (
            {"provider": "revolut", "orders": [{"path": "happy", "faults": {"gremlin": 1}}]},
            "gremlin",
        ),
        ({"provider": "revolut", "speed": 0, "orders": [{"path": "happy"}]}, "speed"),
    ],
)
def test_each_mistake_is_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        read_scenario(document)


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("provider = ")
    with pytest.raises(ScenarioError, match="not TOML"):
        load_scenario(path)
