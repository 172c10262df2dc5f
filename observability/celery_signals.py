"""Carry the request id from whoever enqueues a task to the worker that runs it."""

from __future__ import annotations

import structlog
from celery.signals import before_task_publish, task_postrun, task_prerun

from observability.context import CELERY_HEADER, current_request_id


@before_task_publish.connect(weak=False)
def _stamp_request_id(headers: dict | None = None, **_) -> None:
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(CELERY_HEADER, request_id)


@task_prerun.connect(weak=False)
def _bind_request_id(task=None, task_id: str | None = None, **_) -> None:
    structlog.contextvars.clear_contextvars()
    request_id = getattr(task.request, CELERY_HEADER, None) if task else None
    structlog.contextvars.bind_contextvars(request_id=request_id or task_id, task=task.name)


@task_postrun.connect(weak=False)
def _unbind(**_) -> None:
    structlog.contextvars.clear_contextvars()
