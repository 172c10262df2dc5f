"""Logging setup: structlog on top of stdlib logging, one JSON (or console) line per event.

Every stdlib `logging` call and every structlog call goes through the same formatter, so the
existing `log.warning("...%s", x)` lines keep working and gain the bound context (request id).
Prompt and reply text never go into logs unless LOG_CONTENT is on, and then only redacted.
"""

from __future__ import annotations

import re

import structlog

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, fmt: str, level: str) -> dict:
    """A `LOGGING` dict for Django: stderr, JSON or console lines, both through structlog."""
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.ExtraAdder()],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "httpx": {"level": "WARNING"},
            "httpx2": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
        },
    }


def configure_structlog() -> None:
    """structlog loggers hand their events to stdlib logging, formatted by `logging_config`."""
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DIGITS = re.compile(r"\+?\d[\d ()-]{6,}\d")
_SECRET = re.compile(r"\b(sk|pk|key|token)[-_][A-Za-z0-9_-]{8,}\b", re.IGNORECASE)


def loggable_text(text: str, *, limit: int = 500) -> str | None:
    """Prompt or reply text as it may appear in a log: absent by default, redacted when enabled."""
    from django.conf import settings

    if not settings.LOG_CONTENT:
        return None
    text = _SECRET.sub("[secret]", text)
    text = _EMAIL.sub("[email]", text)
    text = _DIGITS.sub("[number]", text)
    return text[:limit]
