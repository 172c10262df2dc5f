"""The request id: one per HTTP request or chat turn, bound to every log line and Celery task."""

from __future__ import annotations

import re
import uuid

import structlog

HEADER = "X-Request-ID"
# A client-chosen id ends up in logs and headers: short, and nothing that could forge a line.
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
CELERY_HEADER = "switchboard_request_id"


def sane_request_id(candidate: str | None) -> str:
    """The client's id if it is sane, otherwise a fresh one."""
    if candidate and _SANE.match(candidate):
        return candidate
    return uuid.uuid4().hex


def bind_request_id(request_id: str) -> None:
    structlog.contextvars.bind_contextvars(request_id=request_id)


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


def turn_request_id() -> uuid.UUID:
    """A UUID for a turn started in this context: the bound request id when it is one."""
    try:
        return uuid.UUID(current_request_id() or "")
    except ValueError:
        return uuid.uuid4()
