"""logs.Redact: no Saber URL token in any line or traceback, no aiosqlite DEBUG record (they
print statement parameters), whichever handler receives the record."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable, Iterator

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


def _json_line(record: logging.LogRecord) -> dict[str, object]:
    handler = logging.Handler()
    handler.addFilter(logs.Context())
    handler.filter(record)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "rampwire.test", "msg": "hello", "levelno": 20})
    record.__dict__.update(extra)
    return record


def test_bound_ids_are_on_every_json_line_and_gone_after_the_block() -> None:
    with logs.bind(request_id="req_1", order_id="ord_1"):
        with logs.bind(delivery_id="dlv_1", endpoint_id=None):
            inner = _json_line(_record())
        outer = _json_line(_record())
    after = _json_line(_record())
    assert (inner["request_id"], inner["order_id"], inner["delivery_id"]) == (
        "req_1",
        "ord_1",
        "dlv_1",
    )
    assert "endpoint_id" not in inner  # None binds nothing
    assert "delivery_id" not in outer and outer["request_id"] == "req_1"
    assert not set(logs.CONTEXT_KEYS) & set(after)


def test_an_id_given_with_extra_wins_over_the_bound_one() -> None:
    with logs.bind(delivery_id="dlv_bound"):
        line = _json_line(_record(delivery_id="dlv_given"))
    assert line["delivery_id"] == "dlv_given"


def test_json_lines_carry_no_ansi_colour_copy() -> None:
    """uvicorn adds ``color_message``, its message with ANSI escapes, to its records."""
    line = _json_line(_record(color_message="\x1b[32mINFO\x1b[0m hello"))
    assert "color_message" not in line
    assert "\x1b" not in json.dumps(line)


@pytest.mark.parametrize(("log_sql", "level"), [(False, logging.INFO), (True, logging.NOTSET)])
def test_driver_statement_logging_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, log_sql: bool, level: int
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    drivers = [logging.getLogger(name) for name in ("aiosqlite", "asyncpg")]
    for driver in drivers:
        monkeypatch.setattr(driver, "level", driver.level)
    logs.configure("json", "DEBUG", log_sql=log_sql)
    assert [driver.level for driver in drivers] == [level, level]
    assert logging.getLogger("asyncpg").isEnabledFor(logging.DEBUG) is log_sql


def test_enter_binds_what_bind_binds_in_the_same_order_until_reset() -> None:
    ids = {"request_id": "req_2", "source_id": "src_2", "order_id": "ord_2"}
    with logs.bind(order_id="ord_outer", partner_id="ptn_1"):
        with logs.bind(**ids):
            by_bind = list(logs.context().items())
        token = logs.enter(ids)
        try:
            by_enter = list(logs.context().items())
        finally:
            token.var.reset(token)
        assert dict(logs.context()) == {"order_id": "ord_outer", "partner_id": "ptn_1"}
    assert by_enter == by_bind
    assert not logs.context()


def test_tag_adds_ids_in_place_and_leaves_none_out() -> None:
    with logs.bind(request_id="req_3", source_id="src_3"):
        logs.tag(source_id="src_4", order_id=None, partner_id="ptn_4")
        assert list(logs.context().items()) == [
            ("request_id", "req_3"),
            ("source_id", "src_4"),
            ("partner_id", "ptn_4"),
        ]
    assert not logs.context()


def _by_bind(ids: dict[str, str | None]) -> list[tuple[str, str]]:
    with logs.bind(**ids):
        return list(logs.context().items())


def _by_tag(ids: dict[str, str | None]) -> list[tuple[str, str]]:
    def tagged() -> list[tuple[str, str]]:
        logs.tag(**ids)
        return list(logs.context().items())

    return contextvars.copy_context().run(tagged)  # as a task's own context: the tag ends with it


def _by_enter(ids: dict[str, str | None]) -> list[tuple[str, str]]:
    token = logs.enter(ids)
    try:
        return list(logs.context().items())
    finally:
        token.var.reset(token)


@pytest.mark.parametrize("merge", [_by_bind, _by_tag, _by_enter])
@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (  # every id known: a bound one is replaced in place, a new one added at the end
            {"order_id": "ord_6", "source_id": "src_6"},
            [("request_id", "req_5"), ("order_id", "ord_6"), ("source_id", "src_6")],
        ),
        (  # a None leaves a bound id as it was, and binds nothing new
            {"order_id": None, "event_id": None, "source_id": "src_5"},
            [("request_id", "req_5"), ("order_id", "ord_5"), ("source_id", "src_5")],
        ),
    ],
)
def test_ids_merge_the_same_whichever_way_they_are_bound(
    merge: Callable[[dict[str, str | None]], list[tuple[str, str]]],
    ids: dict[str, str | None],
    expected: list[tuple[str, str]],
) -> None:
    with logs.bind(request_id="req_5", order_id="ord_5"):
        merged = merge(ids)
        assert list(logs.context().items()) == [("request_id", "req_5"), ("order_id", "ord_5")]
    assert merged == expected
    assert not logs.context()
