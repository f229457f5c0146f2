"""An endpoint made of its fields' values (:func:`endpoint_of_values`, the stored rows' path),
and what a worker reads of one (:func:`stored_target`), equal the ones the keyword constructors
make, and refuse a value too many or too few."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rampwire.delivery.endpoints import (
    ENDPOINT_FIELDS,
    Endpoint,
    Ordering,
    SigningSecret,
    StoredTarget,
    endpoint_of_values,
    stored_target,
)
from rampwire.settings import Secret
from rampwire.types import utcnow


def _every_field_set() -> dict[str, Any]:
    """A value for every field, none of them the default."""
    now = utcnow()
    return {
        "id": "ep_1",
        "url": "https://example.com/h",
        "event_types": ("order.*",),
        "dialect": "standard",
        "secrets": (SigningSecret(value=Secret("whsec_AAAA"), created_at=now),),
        "created_at": now - timedelta(days=2),
        "updated_at": now - timedelta(days=1),
        "description": "d",
        "headers": {"X-Api-Key": "k"},
        "rate_limit": 7,
        "max_in_flight": 3,
        "ordering": Ordering.PER_ORDER_FIFO,
        "retry_policy": {"retry_delays": [1]},
        "disabled_at": now - timedelta(hours=3),
        "disabled_reason": "r",
        "last_success_at": now - timedelta(hours=2),
        "failing_since": now - timedelta(hours=1),
        "partner_id": "pt_1",
        "partners": ("pt_2",),
        "signatures": ("v1", "v1a"),
        "traceparent": True,
    }


def test_endpoint_of_values_equals_the_keyword_constructor() -> None:
    given = _every_field_set()
    assert set(ENDPOINT_FIELDS) == set(given)
    made = endpoint_of_values(tuple(given[name] for name in ENDPOINT_FIELDS))
    assert made == Endpoint(**given)
    assert {name: getattr(made, name) for name in ENDPOINT_FIELDS} == given


@pytest.mark.parametrize("cut", [-1, 1])
def test_endpoint_of_values_refuses_a_wrong_count(cut: int) -> None:
    values = tuple(_every_field_set()[name] for name in ENDPOINT_FIELDS)
    wrong = values[:cut] if cut < 0 else (*values, None)
    with pytest.raises(TypeError):
        endpoint_of_values(wrong)


def test_endpoint_of_values_is_frozen() -> None:
    made = endpoint_of_values(tuple(_every_field_set()[name] for name in ENDPOINT_FIELDS))
    with pytest.raises(AttributeError):
        made.url = "https://elsewhere.example/h"  # type: ignore[misc]


def _stored_values() -> dict[str, Any]:
    return {
        "id": "ep_1",
        "version": 1_765_000_000_000_000,
        "url": "https://example.com/h",
        "dialect": "standard",
        "secrets": ((Secret("whsec_AAAA"), 1, None),),
        "headers": {"X-Api-Key": "k"},
        "rate_limit": 7,
        "max_in_flight": 3,
        "retry_policy": {"retry_delays": [1]},
        "enabled": False,
        "signatures": ("v1", "v1a"),
        "traceparent": True,
    }


def test_stored_target_equals_the_keyword_constructor() -> None:
    given = _stored_values()
    assert StoredTarget._fields == tuple(given)
    made = stored_target(tuple(given.values()))
    assert type(made) is StoredTarget and made == StoredTarget(**given)
    assert made._asdict() == given
