"""Fixtures for the dialect tests."""

from __future__ import annotations

from datetime import datetime

import pytest

from rampwire.dialects import standard
from rampwire.dialects.jose import SigningKey

from .support import NOW, signing_key


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return signing_key()


@pytest.fixture(scope="session")
def standard_secret() -> str:
    return standard.generate_secret()
