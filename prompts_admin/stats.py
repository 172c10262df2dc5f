"""Per-version and per-arm numbers with confidence intervals, and the tests that compare them.

Rates get Wilson intervals and a one-sided Fisher exact test; means get t intervals and a
one-sided Welch t-test (an exact permutation test when neither sample varies). Thumbs and eval
scores are read from observability's Feedback and EvalResult rows of the same turns (per-turn
values: the rollups keep only sums, and an interval needs the spread). "Eval score" is the
cheap-check score of every evaluated turn, as on the quality dashboard; "judge
score" is the LLM judge's, on the turns it sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from django.db.models import QuerySet
from scipy import stats as scistats

from chat.models import Status
from observability.models import EvalResult, Feedback, RequestLog

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
    thumbs_up: int = 0
    thumbs_down: int = 0
    eval_scores: list[float] = field(default_factory=list)
    judge_scores: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, logs: QuerySet[RequestLog]) -> Sample:
        logs = logs.filter(purpose=RequestLog.Purpose.TURN)  # a title job is not a served turn
        rows = list(logs.values_list("status", "latency_ms", "cost"))
        thumbs = Feedback.objects.filter(message_id__in=logs.values("message_id"))
        evals = EvalResult.objects.filter(
            request_log__in=logs.values("id"), status=EvalResult.Status.OK
        ).values_list("check_score", "judge_score")
        return cls(
            **_request_numbers(rows),
            thumbs_up=thumbs.filter(score=Feedback.UP).count(),
            thumbs_down=thumbs.filter(score=Feedback.DOWN).count(),
            eval_scores=[check for check, _ in evals],
            judge_scores=[judge for _, judge in evals if judge is not None],
        )

    @classmethod
    def of_shadow(cls, runs) -> Sample:
        """A shadow variant's own answers (ShadowRun rows): no one sees them, so no thumbs."""
        return cls(**_request_numbers(list(runs.values_list("status", "latency_ms", "cost"))))

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def rated(self) -> int:
        return self.thumbs_up + self.thumbs_down


def _request_numbers(rows: list[tuple]) -> dict:
    """Requests, errors, latencies (of answered turns) and costs from (status, latency, cost)."""
    return {
        "requests": len(rows),
        "errors": sum(1 for status, _, _ in rows if status in ERROR_STATUSES),
        "latencies_ms": [
            lat for status, lat, _ in rows if lat is not None and status not in ERROR_STATUSES
        ],
        "costs": [float(cost) for _, _, cost in rows if cost is not None],
    }


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


def thumbs_up_lower_p(variant: Sample, control: Sample) -> float | None:
    """P-value that the variant's thumbs-up rate is lower than the control's (Fisher)."""
    if not variant.rated or not control.rated:
        return None
    table = [[variant.thumbs_up, variant.thumbs_down], [control.thumbs_up, control.thumbs_down]]
    return float(scistats.fisher_exact(table, alternative="less").pvalue)


def mean_lower_p(variant: list[float], control: list[float]) -> float | None:
    """P-value that the variant's mean is lower (a score where higher is better)."""
    return mean_higher_p(control, variant)


def mean_higher_p(variant: list[float], control: list[float]) -> float | None:
    """P-value that the variant's mean is higher (Welch's t-test, one-sided)."""
    if len(variant) < 2 or len(control) < 2:
        return None
    if np.ptp(variant) == 0 and np.ptp(control) == 0:  # no spread: the t statistic is 0/0
        return constant_higher_p(variant[0], control[0], len(variant), len(control))
    result = scistats.ttest_ind(variant, control, equal_var=False, alternative="greater")
    return None if math.isnan(result.pvalue) else float(result.pvalue)


def constant_higher_p(variant: float, control: float, n_variant: int, n_control: int) -> float:
    """Welch's test is undefined when neither sample varies; this is the exact permutation test.

    Equal values are no evidence at all (p = 1), nor is a variant lower than the control. A
    higher variant is as extreme as an outcome gets, and the chance of it when the arms do not
    differ is that of the variant's n values being the n highest of all: 1 / C(n + m, n). So two
    against two (p = 1/6) decides nothing, while three against three just reaches 0.05.
    """
    if variant <= control:
        return 1.0
    return 1 / math.comb(n_variant + n_control, n_variant)


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
    judge_score: Interval | None = None
    rated: int = 0  # replies with a thumb
    evaluated: int = 0
    judged: int = 0
    # Against the control: one-sided p-values that this row is worse.
    error_p: float | None = None
    latency_p: float | None = None
    cost_p: float | None = None
    thumbs_up_p: float | None = None
    eval_score_p: float | None = None
    judge_score_p: float | None = None


def report(name: str, sample: Sample, control: Sample | None = None) -> Report:
    compare = control is not None
    return Report(
        name=name,
        requests=sample.requests,
        error_rate=wilson(sample.errors, sample.requests),
        latency_p50=percentile(sample.latencies_ms, 50),
        latency_p95=percentile(sample.latencies_ms, 95),
        cost=mean_interval(sample.costs),
        thumbs_up=wilson(sample.thumbs_up, sample.rated),
        eval_score=mean_interval(sample.eval_scores),
        judge_score=mean_interval(sample.judge_scores),
        rated=sample.rated,
        evaluated=len(sample.eval_scores),
        judged=len(sample.judge_scores),
        error_p=error_rate_worse_p(sample, control) if compare else None,
        latency_p=mean_higher_p(sample.latencies_ms, control.latencies_ms) if compare else None,
        cost_p=mean_higher_p(sample.costs, control.costs) if compare else None,
        thumbs_up_p=thumbs_up_lower_p(sample, control) if compare else None,
        eval_score_p=mean_lower_p(sample.eval_scores, control.eval_scores) if compare else None,
        judge_score_p=mean_lower_p(sample.judge_scores, control.judge_scores) if compare else None,
    )
