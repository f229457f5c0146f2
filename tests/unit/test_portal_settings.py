"""The partner portal's settings: the link TTL and the origins that may frame the portal; the
origins go into a Content-Security-Policy header as they are, so only origins are accepted."""

from __future__ import annotations

import pytest

from rampwire.errors import ConfigError
from rampwire.settings import Settings
from rampwire.ui.render import CSP, SECURITY_HEADERS, portal_headers


def test_the_defaults_are_an_hour_and_no_framing() -> None:
    settings = Settings.from_env({})
    assert settings.portal_link_ttl_s == 3600 and settings.portal_frame_ancestors == ()
    assert portal_headers(settings.portal_frame_ancestors) == SECURITY_HEADERS


def test_origins_are_read_and_put_in_frame_ancestors() -> None:
    settings = Settings.from_env(
        {
            "RAMPWIRE_PORTAL_LINK_TTL": "300",
            "RAMPWIRE_PORTAL_FRAME_ANCESTORS": " https://app.example.com/, https://*.acme.io:8443",
        }
    )
    assert settings.portal_link_ttl_s == 300
    assert settings.portal_frame_ancestors == ("https://app.example.com", "https://*.acme.io:8443")
    headers = portal_headers(settings.portal_frame_ancestors)
    assert headers["content-security-policy"] == CSP.replace(
        "frame-ancestors 'none'", "frame-ancestors https://app.example.com https://*.acme.io:8443"
    )
    assert "x-frame-options" not in headers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAMPWIRE_PORTAL_FRAME_ANCESTORS", "https://a.example; script-src *"),
        ("RAMPWIRE_PORTAL_FRAME_ANCESTORS", "'self'"),
        ("RAMPWIRE_PORTAL_FRAME_ANCESTORS", "app.example.com"),
        ("RAMPWIRE_PORTAL_FRAME_ANCESTORS", "https://a.example/path"),
        ("RAMPWIRE_PORTAL_LINK_TTL", "0"),
        ("RAMPWIRE_PORTAL_LINK_TTL", "an hour"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
