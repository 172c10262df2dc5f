"""Celery workers' task counters and durations, kept in Redis and served by any web process.

Workers are processes of their own (often on other machines) that Prometheus does not scrape,
and behind the load balancer a scrape reaches any one of several web processes. So each worker
adds every finished task to one Redis hash (one pipelined round trip), and /metrics reads that
hash at scrape time: every web process reports the same totals, whatever workers come and go.
A Redis outage costs those counts, never the task.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import redis
import structlog
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from prometheus_client.core import REGISTRY, CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

log = structlog.get_logger(__name__)

KEY = "switchboard:metrics:celery_tasks"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BOUNDS = [*(floatToGoString(b) for b in BUCKETS), "+Inf"]
# Celery's end states, as the counter's `outcome` label.
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

_started: dict[str, float] = {}


@lru_cache(maxsize=1)
def _redis(pid: int) -> redis.Redis:
    """One client per process (a forked worker child makes its own)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def record_task(name: str, outcome: str, seconds: float) -> None:
    """Add one finished task to the shared counters; a Redis failure is logged, not raised."""
    bucket = next((_BOUNDS[n] for n, b in enumerate(BUCKETS) if seconds <= b), "+Inf")
    pipe = _redis(os.getpid()).pipeline(transaction=False)
    pipe.hincrby(KEY, f"n|{name}|{outcome}", 1)
    pipe.hincrby(KEY, f"le|{name}|{bucket}", 1)
    pipe.hincrbyfloat(KEY, f"sum|{name}", seconds)
    try:
        pipe.execute()
    except (redis.RedisError, OSError) as error:
        log.warning("task metrics not recorded", task=name, error=repr(error))


@task_prerun.connect(weak=False)
def _task_started(task_id: str | None = None, **_) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


@task_postrun.connect(weak=False)
def _task_finished(task_id: str | None = None, task=None, state: str | None = None, **_) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if task is None or started is None:
        return
    outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
    record_task(task.name, outcome, time.monotonic() - started)


class TaskMetricsCollector:
    """Exposes the last hash read from Redis (kept as it was when Redis does not answer)."""

    def __init__(self) -> None:
        self.snapshot: dict[str, float] = {}

    def update(self, raw: dict[bytes, bytes]) -> None:
        self.snapshot = {field.decode(): float(value) for field, value in raw.items()}

    def collect(self):
        tasks = CounterMetricFamily(
            "switchboard_celery_tasks",
            "Tasks finished by the Celery workers, by task and outcome "
            "(succeeded, failed, retried).",
            labels=["task", "outcome"],
        )
        durations = HistogramMetricFamily(
            "switchboard_celery_task_duration_seconds",
            "How long Celery tasks ran in the worker, by task.",
            labels=["task"],
        )
        per_bucket: dict[str, dict[str, float]] = {}
        sums: dict[str, float] = {}
        for field, value in sorted(self.snapshot.items()):
            kind, _, rest = field.partition("|")
            if kind == "n":
                name, _, outcome = rest.rpartition("|")
                tasks.add_metric([name, outcome], value)
            elif kind == "le":
                name, _, bucket = rest.rpartition("|")
                per_bucket.setdefault(name, {})[bucket] = value
            elif kind == "sum":
                sums[rest] = value
        for name, counts in per_bucket.items():
            durations.add_metric([name], buckets=_cumulative(counts), sum_value=sums.get(name, 0.0))
        yield tasks
        yield durations


def _cumulative(counts: dict[str, float]) -> list[tuple[str, float]]:
    buckets, total = [], 0.0
    for bound in _BOUNDS:
        total += counts.get(bound, 0.0)
        buckets.append((bound, total))
    return buckets


COLLECTOR = TaskMetricsCollector()
REGISTRY.register(COLLECTOR)
