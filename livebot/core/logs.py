"""Logs: JSON lines for machines, readable lines on a terminal; both carry delivery and run ids."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final

from redis.exceptions import RedisError

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def warn_failure(logger: logging.Logger, message: str, exc: BaseException, **extra: object) -> None:
    """A warning that something failed and will be tried again: one line when a service is
    merely away (Redis, the network), with the traceback only for anything else."""
    away = isinstance(exc, RedisError | OSError)
    logger.warning(
        message, extra={**extra, "error": str(exc)[:200]}, exc_info=None if away else exc
    )


class Summary:
    """Something outsiders can make happen at will, logged at most once per `seconds` with how
    many times it happened: the log cannot be grown by sending it."""

    def __init__(self, logger: logging.Logger, message: str, seconds: float = 60.0) -> None:
        self.logger = logger
        self.message = message
        self.seconds = seconds
        self.counts: dict[str, int] = {}
        self._logged = -seconds

    def count(self, kind: str = "times", **extra: object) -> None:
        """One more; logged (with `extra` of this one) if the last line is old enough."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._logged >= self.seconds:
            self.logger.warning(self.message, extra={**self.counts, **extra})
            self.counts = {}
            self._logged = now


class JsonFormatter(logging.Formatter):
    """Formats a record and its `extra` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One readable line: time, level, message, then the `extra` fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and v is not None
        )
        line = f"{when} {record.levelname.lower():7} {record.getMessage()}"
        line += f"  {extras}" if extras else ""
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "INFO", log_format: str | None = None) -> None:
    """Log to stderr: `log_format` json or text, else text on a terminal and JSON otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    chosen = log_format or ("text" if sys.stderr.isatty() else "json")
    handler.setFormatter(TextFormatter() if chosen == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
