"""/metrics: who may read it, and the gauges refreshed from Redis at each scrape."""

from __future__ import annotations

import asyncio
import hmac

import redis.asyncio as aioredis
from django.conf import settings

from gateway.router.breaker import breaker_states
from observability import shared_metrics, task_metrics
from observability.metrics import BREAKER_STATE, CELERY_QUEUE_DEPTH

PERMISSION = "observability.view_metrics"


def bearer_token_ok(authorization: str) -> bool:
    """A Prometheus scraper's `Authorization: Bearer <METRICS_TOKEN>` (off when unset)."""
    scheme, _, token = authorization.partition(" ")
    expected = settings.METRICS_TOKEN
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


async def refresh_gauges() -> None:
    """Breaker states, queue depth, the shared turn counters and the workers' task counters as
    Redis has them now; an outage leaves them as they were."""
    await asyncio.to_thread(shared_metrics.WRITER.flush)  # this process's own latest counts too
    shared = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    broker = aioredis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        states, depths, tasks, series = await asyncio.wait_for(
            asyncio.gather(
                breaker_states(shared),
                asyncio.gather(*(broker.llen(q) for q in settings.METRICS_CELERY_QUEUES)),
                shared.hgetall(task_metrics.KEY),
                shared.hgetall(shared_metrics.KEY),
            ),
            timeout=2,
        )
    except (aioredis.RedisError, OSError, TimeoutError):
        return
    finally:
        await shared.aclose()
        await broker.aclose()
    task_metrics.COLLECTOR.update(tasks)
    shared_metrics.COLLECTOR.update(series)
    BREAKER_STATE.clear()
    for breaker, state in states.items():
        BREAKER_STATE.labels(breaker=breaker, state=state).set(1)
    for queue, depth in zip(settings.METRICS_CELERY_QUEUES, depths, strict=True):
        CELERY_QUEUE_DEPTH.labels(queue=queue).set(depth)
