"""Which of an endpoint's secrets sign now: newest first, a rotated-out one until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rampwire.delivery.endpoints import Endpoint, SigningSecret, StoredTarget
from rampwire.settings import Secret
from rampwire.storage.database import to_us

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


def stored(*secrets: SigningSecret) -> StoredTarget:
    """What a worker reads of :func:`endpoint`'s row: its secrets' times in microseconds."""
    return StoredTarget(
        id="ep_1",
        version=to_us(NOW),
        url="https://example.com/hooks",
        dialect="standard",
        secrets=tuple(
            (s.value, to_us(s.created_at), None if s.expires_at is None else to_us(s.expires_at))
            for s in secrets
        ),
        headers={},
        rate_limit=None,
        max_in_flight=50,
        retry_policy=None,
        enabled=True,
        signatures=("v1",),
        traceparent=False,
    )


@given(
    st.lists(
        st.tuples(st.integers(-48, 0), st.none() | st.integers(-24, 24), st.integers(-2, 2)),
        min_size=1,
        max_size=3,
    )
)
def test_a_worker_signs_with_the_secrets_the_endpoint_signs_with(
    made: list[tuple[int, int | None, int]],
) -> None:
    """The worker's stored microseconds pick and order the secrets as the endpoint's datetimes
    do, a microsecond either side of now and equal creation times included."""
    secrets = [
        SigningSecret(
            value=Secret(f"s{i}"),
            created_at=NOW + timedelta(hours=created),
            expires_at=None
            if expires is None
            else NOW + timedelta(microseconds=expires * 1_800_000_000 + nudge),
        )
        for i, (created, expires, nudge) in enumerate(made)
    ]
    expected = endpoint(*secrets).signing_secrets(NOW)
    assert list(stored(*secrets).signing_secrets(to_us(NOW))) == expected


def revealed(one: SigningSecret) -> list[str]:
    return [s.reveal() for s in endpoint(one).signing_secrets(NOW)]


def test_one_secret_signs_until_it_expires() -> None:
    assert revealed(secret("a", 0, None)) == ["a"]
    assert revealed(secret("a", 0, 1)) == ["a"]
    assert revealed(secret("a", -2, -1)) == []
