"""Logging set-up: human-readable text, or one JSON object per line, with no secret in it.

:class:`Redact` is the one place secrets are kept out of the logs, at every level:

- a Saber source's URL token (``/ingest/{source}/{token}``) in any message or traceback, the
  access log's request line included;
- aiosqlite's DEBUG records, which print each statement's parameters and results (a header
  value, a credential before it is sealed), are dropped; asyncpg logs no parameters.

:class:`Context` puts the ids a line is about (request, order, event, delivery, endpoint,
source) on every record, from a :mod:`contextvars` variable that :func:`bind` sets: the
standard library's own mechanism, so each asyncio task (a request, a send) carries its own ids
and nothing has to pass them down; structlog would do the same with a second logging API.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType

import orjson

_RESERVED = frozenset(vars(logging.makeLogRecord({})))
_INGEST_TOKEN = re.compile(r"(/ingest/[^/\s?#\"']+/)[^/\s?#\"']+")
REDACTED = "[redacted]"
# Loggers whose records can carry a secret, filtered where they are made, so that every
# handler (not only the one configure() installs) gets them redacted.
_SOURCES = ("aiosqlite", "uvicorn.access", "uvicorn.error", "rampwire")
# The database drivers' loggers: their statement lines stay out of DEBUG unless asked for.
_DRIVERS = ("aiosqlite", "asyncpg")
# Extras that only a colour terminal wants (uvicorn's ANSI-coloured copy of its message).
_TERMINAL_ONLY = frozenset({"color_message"})
CONTEXT_KEYS = (
    "request_id",
    "order_id",
    "event_id",
    "delivery_id",
    "endpoint_id",
    "source_id",
    "partner_id",
)
_context: ContextVar[Mapping[str, str]] = ContextVar(
    "rampwire_log_context", default=MappingProxyType({})
)


class bind:  # lower case: read as a function, as contextlib.suppress is
    """Within the block (and the tasks it starts), every log line carries these ids (a None
    leaves its key as it was).

    A class rather than ``@contextmanager``: it wraps every request, and a generator with its
    wrapper costs several calls more than these three methods."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: str | None) -> None:
        self._ids = ids
        self._token: Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        self._token = enter(self._ids)

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if self._token is not None:
            _context.reset(self._token)
            self._token = None


def tag(**ids: str | None) -> None:
    """From here to the end of the current task, every log line carries these ids (a None
    leaves its key as it was)."""
    enter(ids)


def enter(ids: Mapping[str, str | None]) -> Token[Mapping[str, str]]:
    """The one merge of log ids: every log line carries ``ids``, added to those bound here (a
    None leaves its key as it was), until ``token.var.reset(token)`` with the token returned.
    :class:`bind`'s entry; the hottest caller (the ingest front) calls it without the object."""
    if None not in ids.values():  # every id known, as a request's are: merged in C
        return _context.set({**_context.get(), **ids})  # type: ignore[dict-item]
    merged = dict(_context.get())
    for key, value in ids.items():
        if value is not None:
            merged[key] = value
    return _context.set(merged)


def context() -> Mapping[str, str]:
    """The ids bound here."""
    return _context.get()


class Context(logging.Filter):
    """Adds the bound ids to each record; ids given with ``extra=`` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if key not in record.__dict__:
                record.__dict__[key] = value
        return True


def redact(text: str) -> str:
    """``text`` without the secrets a log line could carry."""
    return _INGEST_TOKEN.sub(r"\g<1>" + REDACTED, text)


class Redact(logging.Filter):
    """Drops the records that print SQL parameters and redacts tokens from the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("aiosqlite") and record.levelno < logging.INFO:
            return False
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # arguments that do not fit: the handler reports it, as without us
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def protect() -> Redact:
    """Put the filter on the loggers that can carry secrets (once); return one for a handler."""
    for name in _SOURCES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Redact) for f in logger.filters):
            logger.addFilter(Redact())
    return Redact()


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if (
                key not in _RESERVED
                and key not in entry
                and key not in _TERMINAL_ONLY
                and not key.startswith("_")
            ):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(log_format: str, level: str, *, log_sql: bool = False) -> None:
    """Log to stderr at ``level``; ``log_sql``: the drivers' statement lines too, at DEBUG
    (aiosqlite's, which print parameters, stay dropped by :class:`Redact`)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(protect())  # and on the handler: records from any other logger
    handler.addFilter(Context())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in _DRIVERS:
        logging.getLogger(name).setLevel(logging.NOTSET if log_sql else logging.INFO)
