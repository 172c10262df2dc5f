"""Counters and histograms whose values live in Redis, so every process reports the same totals.

Behind the load balancer a scrape reaches any one of several web processes (on any machine), so
per-process counters would jump from scrape to scrape. Each process instead adds its increments
to one Redis hash, and /metrics reads that hash at scrape time (see observability/scrape.py).

Writes are cheap for the caller: `.inc()` / `.observe()` only add to this process's pending
buffer; a background thread sends everything pending in one pipelined round trip of HINCRBYFLOAT
(a turn's dozen series cost one round trip, off the event loop). A Redis failure drops that
batch: it is logged and counted (switchboard_metrics_dropped_total, per process), never raised.
The API is prometheus_client's: `SERIES.labels(a=..., b=...).inc()`.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import defaultdict

import redis
import structlog
from django.conf import settings
from prometheus_client import Counter as LocalCounter
from prometheus_client.core import REGISTRY, CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

log = structlog.get_logger(__name__)

KEY = "switchboard:metrics:series"
_FLUSH_DELAY_SECONDS = 0.02  # let one turn's increments gather into one round trip

DROPPED = LocalCounter(
    "switchboard_metrics_dropped_total",
    "Shared-metric updates (hash fields: a series' total, a bucket, a sum) this process could "
    "not write to Redis (lost, not retried).",
)


def _field(*parts: str) -> str:
    # JSON keeps label values with any character (|, quotes, newlines) unambiguous.
    return json.dumps(parts, separators=(",", ":"))


class _Writer:
    """This process's pending increments and the thread that sends them (remade after fork)."""

    def __init__(self) -> None:
        self._pid = -1

    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with _INIT_LOCK:
            if self._pid != os.getpid():
                self._start()

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, float] = defaultdict(float)
        self._wake = threading.Event()
        self._client: redis.Redis | None = None
        threading.Thread(target=self._run, name="shared-metrics", daemon=True).start()
        self._pid = os.getpid()

    def add(self, field: str, amount: float) -> None:
        self._ensure()
        with self._lock:
            self._pending[field] += amount
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(_FLUSH_DELAY_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Send everything pending now (also called before a scrape and at exit)."""
        self._ensure()
        with self._lock:
            batch, self._pending = self._pending, defaultdict(float)
        if not batch:
            return
        try:
            pipe = self._redis().pipeline(transaction=False)
            for field, amount in batch.items():
                pipe.hincrbyfloat(KEY, field, amount)
            pipe.execute()
        except Exception as error:  # metrics must never break the caller
            DROPPED.inc(len(batch))
            log.warning("shared metrics not recorded", series=len(batch), error=repr(error))

    def read(self, field: str) -> float:
        self.flush()
        return float(self._redis().hget(KEY, field) or 0)

    def _redis(self) -> redis.Redis:
        self._ensure()
        if self._client is None:
            self._client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
            )
        return self._client


_INIT_LOCK = threading.Lock()
WRITER = _Writer()
atexit.register(lambda: WRITER.flush() if WRITER._pid == os.getpid() else None)


class _Child:
    def __init__(self, metric: _Metric, values: tuple[str, ...]) -> None:
        self._metric, self._values = metric, values

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        if amount:
            WRITER.add(_field(self._metric.name, "n", *self._values), float(amount))

    def observe(self, value: float) -> None:
        metric = self._metric
        bound = next((b for b in metric.bounds[:-1] if value <= float(b)), "+Inf")
        WRITER.add(_field(metric.name, "le", bound, *self._values), 1.0)
        WRITER.add(_field(metric.name, "sum", *self._values), float(value))

    def get(self) -> float:
        """The shared total of a counter, as Redis has it now (for tests and admin checks)."""
        return WRITER.read(_field(self._metric.name, "n", *self._values))


class _Metric:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames=(), buckets=()) -> None:
        self.name, self.documentation = name.removesuffix("_total"), documentation
        self.labelnames = tuple(labelnames)
        self.bounds = [*(floatToGoString(b) for b in buckets), "+Inf"]
        SHARED.append(self)

    def labels(self, *values: object, **named: object) -> _Child:
        if named:
            values = tuple(named[name] for name in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        return _Child(self, tuple(str(v) for v in values))

    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)


class Counter(_Metric):
    kind = "counter"


class Histogram(_Metric):
    kind = "histogram"


SHARED: list[_Metric] = []


class SharedCollector:
    """Exposes the last hash read from Redis (kept as it was when Redis does not answer)."""

    def __init__(self) -> None:
        self.snapshot: dict[str, float] = {}

    def update(self, raw: dict[bytes, bytes]) -> None:
        self.snapshot = {field.decode(): float(value) for field, value in raw.items()}

    def collect(self):
        rows: dict[str, list[list[str]]] = defaultdict(list)
        for field, value in self.snapshot.items():
            try:
                parts = json.loads(field)
            except ValueError:
                continue
            rows[parts[0]].append([*parts[1:], value])
        for metric in SHARED:
            yield (_histogram if metric.kind == "histogram" else _counter)(metric, rows)


def _counter(metric: _Metric, rows) -> CounterMetricFamily:
    family = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
    for kind, *values, value in sorted(rows.get(metric.name, []), key=str):
        if kind == "n" and len(values) == len(metric.labelnames):
            family.add_metric(values, value)
    return family


def _histogram(metric: _Metric, rows) -> HistogramMetricFamily:
    family = HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
    buckets: dict[tuple, dict[str, float]] = defaultdict(dict)
    sums: dict[tuple, float] = {}
    for kind, *rest, value in rows.get(metric.name, []):
        if kind == "le":
            buckets[tuple(rest[1:])][rest[0]] = value
        elif kind == "sum":
            sums[tuple(rest)] = value
    for values, counts in sorted(buckets.items()):
        cumulative, total = [], 0.0
        for bound in metric.bounds:
            total += counts.get(bound, 0.0)
            cumulative.append((bound, total))
        family.add_metric(list(values), buckets=cumulative, sum_value=sums.get(values, 0.0))
    return family


COLLECTOR = SharedCollector()
REGISTRY.register(COLLECTOR)
