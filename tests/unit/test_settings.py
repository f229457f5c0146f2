"""Settings of observability from RAMPWIRE_* variables: metrics, their token and address, SQL
logging, tracing; a bad value is a ConfigError naming the variable."""

from __future__ import annotations

import pytest

from rampwire.errors import ConfigError
from rampwire.settings import Secret, Settings


def test_the_defaults_count_metrics_and_serve_and_trace_nothing() -> None:
    settings = Settings.from_env({})
    assert settings.metrics is True
    assert (settings.metrics_token, settings.metrics_addr) == (None, None)
    assert (settings.log_sql, settings.tracing_sample) == (False, 0.0)


def test_each_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "RAMPWIRE_METRICS": "0",
            "RAMPWIRE_METRICS_TOKEN": "t0ken",
            "RAMPWIRE_METRICS_ADDR": "[::1]:9464",
            "RAMPWIRE_LOG_SQL": "true",
            "RAMPWIRE_TRACING_SAMPLE": "0.1",
        }
    )
    assert settings.metrics is False
    assert settings.metrics_token == Secret("t0ken")
    assert "t0ken" not in repr(settings)
    assert settings.metrics_addr == ("::1", 9464)
    assert (settings.log_sql, settings.tracing_sample) == (True, 0.1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAMPWIRE_METRICS_ADDR", "9464"),
        ("RAMPWIRE_METRICS_ADDR", "host:port"),
        ("RAMPWIRE_METRICS_ADDR", "host:70000"),
        ("RAMPWIRE_METRICS", "maybe"),
        ("RAMPWIRE_LOG_SQL", "2"),
        ("RAMPWIRE_TRACING_SAMPLE", "1.5"),
        ("RAMPWIRE_TRACING_SAMPLE", "often"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
