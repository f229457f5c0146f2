"""Logging set-up: human-readable text, or one JSON object per line, with no secret in it.

:class:`Redact` is the one place secrets are kept out of the logs, at every level:

- a Saber source's URL token (``/ingest/{source}/{token}``) in any message or traceback, the
  access log's request line included;
- aiosqlite's DEBUG records, which print each statement's parameters and results (a header
  value, a credential before it is sealed), are dropped; asyncpg logs no parameters.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

_RESERVED = frozenset(vars(logging.makeLogRecord({})))
_INGEST_TOKEN = re.compile(r"(/ingest/[^/\s?#\"']+/)[^/\s?#\"']+")
REDACTED = "[redacted]"
# Loggers whose records can carry a secret, filtered where they are made, so that every
# handler (not only the one configure() installs) gets them redacted.
_SOURCES = ("aiosqlite", "uvicorn.access", "uvicorn.error", "rampwire")


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
            if key not in _RESERVED and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(protect())  # and on the handler: records from any other logger
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
