"""Hand a task to Celery without letting a broker outage reach the caller."""

from __future__ import annotations

import logging

from celery import Task

from observability.metrics import ENQUEUE_FAILURES

log = logging.getLogger(__name__)


def enqueue(task: Task, *args, **kwargs) -> bool:
    """Send `task`; on a broker failure count and log it and return False, never raise.

    `retry=False`: a dead broker must cost the turn one connect timeout, not Celery's default
    retry schedule.
    """
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as error:  # kombu/redis raise many types; all mean "not enqueued"
        ENQUEUE_FAILURES.labels(task=task.name).inc()
        log.warning("could not enqueue %s: %r", task.name, error)
        return False
    return True
