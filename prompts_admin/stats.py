"""Per-version and per-arm numbers with confidence intervals, and the tests that compare them.

Rates get Wilson intervals and a one-sided Fisher exact test; means get t intervals and a
one-sided Welch t-test. Thumbs-up and eval scores are reported once their data exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet
from scipy import stats as scistats

from chat.models import Status
from observability.models import RequestLog

CONFIDENCE = 0.95
ERROR_STATUSES = (Status.FAILED, Status.INTERRUPTED)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Sample:
    """The raw numbers of a set of turns (one version, or one experiment arm)."""

    requests: int
    errors: int
    latencies_ms: list[int]
    costs: list[float]

    @classmethod
    def of(cls, logs: QuerySet[RequestLog]) -> Sample:
        rows = list(logs.values_list("status", "latency_ms", "cost"))
        return cls(
            requests=len(rows),
            errors=sum(1 for status, _, _ in rows if status in ERROR_STATUSES),
            latencies_ms=[
                lat for status, lat, _ in rows if lat is not None and status not in ERROR_STATUSES
            ],
            costs=[float(cost) for _, _, cost in rows if cost is not None],
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def wilson(successes: int, n: int) -> Interval | None:
    if n == 0:
        return None
    ci = scistats.binomtest(successes, n).proportion_ci(CONFIDENCE, method="wilson")
    return Interval(successes / n, ci.low, ci.high)


def mean_interval(values: list[float]) -> Interval | None:
    if not values:
        return None
    mean = float(np.mean(values))
    if len(values) < 2 or np.std(values) == 0:
        return Interval(mean, mean, mean)
    low, high = scistats.t.interval(
        CONFIDENCE, len(values) - 1, loc=mean, scale=scistats.sem(values)
    )
    return Interval(mean, float(low), float(high))


def percentile(values: list[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def error_rate_worse_p(variant: Sample, control: Sample) -> float | None:
    """P-value that the variant's error rate is higher than the control's (Fisher, one-sided)."""
    if not variant.requests or not control.requests:
        return None
    table = [
        [variant.errors, variant.requests - variant.errors],
        [control.errors, control.requests - control.errors],
    ]
    return float(scistats.fisher_exact(table, alternative="greater").pvalue)


def mean_higher_p(variant: list[float], control: list[float]) -> float | None:
    """P-value that the variant's mean is higher (Welch's t-test, one-sided)."""
    if len(variant) < 2 or len(control) < 2:
        return None
    if np.ptp(variant) == 0 and np.ptp(control) == 0:  # constant samples: no t-test needed
        return 0.0 if variant[0] > control[0] else 1.0
    result = scistats.ttest_ind(variant, control, equal_var=False, alternative="greater")
    return None if math.isnan(result.pvalue) else float(result.pvalue)


@dataclass(frozen=True)
class Report:
    """One row of the admin's numbers table."""

    name: str
    requests: int
    error_rate: Interval | None
    latency_p50: float | None
    latency_p95: float | None
    cost: Interval | None
    thumbs_up: Interval | None
    eval_score: Interval | None
    # Against the control: one-sided p-values that this row is worse.
    error_p: float | None = None
    latency_p: float | None = None
    cost_p: float | None = None


def report(name: str, sample: Sample, control: Sample | None = None) -> Report:
    compare = control is not None
    return Report(
        name=name,
        requests=sample.requests,
        error_rate=wilson(sample.errors, sample.requests),
        latency_p50=percentile(sample.latencies_ms, 50),
        latency_p95=percentile(sample.latencies_ms, 95),
        cost=mean_interval(sample.costs),
        # No feedback or eval data is recorded yet; shown as "no data" rather than invented.
        thumbs_up=None,
        eval_score=None,
        error_p=error_rate_worse_p(sample, control) if compare else None,
        latency_p=mean_higher_p(sample.latencies_ms, control.latencies_ms) if compare else None,
        cost_p=mean_higher_p(sample.costs, control.costs) if compare else None,
    )
