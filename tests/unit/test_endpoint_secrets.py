"""Which of an endpoint's secrets sign now: newest first, a rotated-out one until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.settings import Secret

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def endpoint(*secrets: SigningSecret) -> Endpoint:
    return Endpoint(
        id="ep_1",
        url="https://example.com/hooks",
        event_types=("order.*",),
        dialect="standard",
        secrets=secrets,
        created_at=NOW,
        updated_at=NOW,
    )


def secret(name: str, created_h: int, expires_h: int | None) -> SigningSecret:
    return SigningSecret(
        value=Secret(name),
        created_at=NOW + timedelta(hours=created_h),
        expires_at=None if expires_h is None else NOW + timedelta(hours=expires_h),
    )


@given(
    st.lists(
        st.tuples(st.integers(-48, 0), st.none() | st.integers(-24, 24)), min_size=1, max_size=3
    )
)
def test_the_signing_secrets_are_the_live_ones_newest_first(
    made: list[tuple[int, int | None]],
) -> None:
    secrets = [secret(f"s{i}", created, expires) for i, (created, expires) in enumerate(made)]
    live = [s for s in secrets if s.expires_at is None or s.expires_at > NOW]
    expected = [s.value for s in sorted(live, key=lambda s: s.created_at, reverse=True)]
    assert endpoint(*secrets).signing_secrets(NOW) == expected  # the same objects, in order


def revealed(one: SigningSecret) -> list[str]:
    return [s.reveal() for s in endpoint(one).signing_secrets(NOW)]


def test_one_secret_signs_until_it_expires() -> None:
    assert revealed(secret("a", 0, None)) == ["a"]
    assert revealed(secret("a", 0, 1)) == ["a"]
    assert revealed(secret("a", -2, -1)) == []
