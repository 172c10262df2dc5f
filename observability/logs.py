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


def http_response_line(_logger, _method: str, event_dict: dict) -> dict:
    """Django's response log (django.request, django.security): the request as method, path and
    request id instead of an object's repr; a 4xx is one line (a 404 is no stack trace's
    business), a 5xx keeps its traceback."""
    request, status = event_dict.get("request"), event_dict.get("status_code")
    if not hasattr(request, "path") or not isinstance(status, int):
        return event_dict
    del event_dict["request"]
    event_dict["method"], event_dict["path"] = request.method, request.path
    # Django logs some responses after the middleware that bound the id has returned.
    if request_id := getattr(request, "request_id", None):
        event_dict["request_id"] = request_id
    if status < 500:
        event_dict.pop("exc_info", None)
    return event_dict


def structured_formatter(*, fmt: str) -> structlog.stdlib.ProcessorFormatter:
    """JSON or console lines through structlog, for stdlib records and structlog events alike."""
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(), http_response_line],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def logging_config(*, fmt: str, level: str) -> dict:
    """A `LOGGING` dict for Django: stderr, JSON or console lines, both through structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": structured_formatter, "fmt": fmt}},
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
