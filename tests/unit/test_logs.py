"""logs.Redact: no Saber URL token in any line or traceback, no aiosqlite DEBUG record (they
print statement parameters), whichever handler receives the record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from rampwire import logs

TOKEN = "sbr-url-token-5e2a91"


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    """Records as a handler sees them after the loggers' own filters."""
    logs.protect()
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = seen.append  # type: ignore[method-assign]
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_the_access_log_line_loses_the_url_token(captured: list[logging.LogRecord]) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", f"/ingest/src_1/{TOKEN}", "1.1", 200
    )
    [record] = captured
    assert TOKEN not in record.getMessage()
    assert "/ingest/src_1/[redacted] HTTP/1.1" in record.getMessage()


def test_aiosqlite_debug_records_are_dropped(captured: list[logging.LogRecord]) -> None:
    logging.getLogger("aiosqlite").debug("executing %s", ("INSERT ...", TOKEN))
    logging.getLogger("aiosqlite").warning("kept")
    assert [r.getMessage() for r in captured] == ["kept"]


def test_a_traceback_through_the_handler_filter_is_redacted() -> None:
    try:
        raise ValueError(f"failed on /ingest/src_1/{TOKEN}")
    except ValueError:
        record = logging.getLogger("elsewhere").makeRecord(
            "elsewhere", logging.ERROR, __file__, 1, "boom", None, sys.exc_info()
        )
    assert logs.Redact().filter(record)
    for formatter in (logging.Formatter(), logs.JsonFormatter()):
        text = formatter.format(record)
        assert TOKEN not in text and "[redacted]" in text


def test_redact_leaves_the_plain_ingest_path_alone() -> None:
    assert logs.redact("POST /ingest/src_1 HTTP/1.1") == "POST /ingest/src_1 HTTP/1.1"
    assert logs.redact(f"/ingest/src_1/{TOKEN}?x=1") == "/ingest/src_1/[redacted]?x=1"
