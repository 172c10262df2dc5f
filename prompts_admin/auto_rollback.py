"""Automatic rollback (run by beat): stop a variant that is clearly worse than its control.

A variant is stopped, its traffic returned to the control, when over at least MIN_REQUESTS
requests its error rate reaches ERROR_RATIO times the control's and the difference is significant
(so one error against none is not enough), or when it is significantly worse on the metric
the editor chose. The numbers that triggered it are kept on the arm, in the event log and in
admin's LogEntry (under the dedicated system user, see prompts_admin.audit).

Shadow experiments are watched too: a shadow variant's own answers (ShadowRun rows) are compared
with the answers served for the same turns, and a variant that fails twice as often, or is worse
on latency or cost, stops running (its share goes to 0, so no more shadow calls are made).
Thumbs, eval and judge scores exist only for served answers (no one sees a shadow answer, and
none is evaluated), so they guard A/B experiments only: a shadow sample has none, and the test
has nothing to compare.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from observability.models import RequestLog
from prompts_admin.models import Experiment, ExperimentArm, ShadowRun
from prompts_admin.services import RolloutError, arm_stop
from prompts_admin.stats import (
    Sample,
    error_rate_worse_p,
    mean_higher_p,
    mean_lower_p,
    thumbs_up_lower_p,
)

log = logging.getLogger(__name__)

MIN_REQUESTS = 100
ERROR_RATIO = 2.0
ALPHA = 0.05


def arm_sample(arm: ExperimentArm) -> Sample:
    return Sample.of(RequestLog.objects.filter(experiment_arm=arm))


def shadow_samples(arm: ExperimentArm) -> tuple[Sample, Sample]:
    """The shadow variant's answers, and the served (control) answers to the same turns."""
    runs = ShadowRun.objects.filter(arm=arm)
    served = RequestLog.objects.filter(id__in=runs.values("request_log_id"))
    return Sample.of_shadow(runs), Sample.of(served)


# Guard metrics compared as means: (values of a sample, True when higher is worse).
_MEANS: dict[str, tuple[Callable[[Sample], list[float]], bool]] = {
    "latency_ms": (lambda s: s.latencies_ms, True),
    "cost": (lambda s: s.costs, True),
    "eval_score": (lambda s: s.eval_scores, False),
    "judge_score": (lambda s: s.judge_scores, False),
}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def guard_verdict(variant: Sample, control: Sample, metric: str) -> tuple[str, dict] | None:
    """Why the variant is significantly worse on the editor's metric, or None."""
    if metric == "thumbs_up":
        p = thumbs_up_lower_p(variant, control)
        if p is None or p >= ALPHA:
            return None
        v_rate, c_rate = variant.thumbs_up / variant.rated, control.thumbs_up / control.rated
        numbers = {
            "variant_thumbs_up": variant.thumbs_up,
            "variant_rated": variant.rated,
            "control_thumbs_up": control.thumbs_up,
            "control_rated": control.rated,
            "p_value": round(p, 6),
        }
        return (
            f"thumbs-up rate is significantly worse: {v_rate:.1%} of {variant.rated} rated "
            f"replies against the control's {c_rate:.1%} of {control.rated} (p = {p:.2g}).",
            numbers,
        )
    if metric not in _MEANS:
        return None
    pick, higher_is_worse = _MEANS[metric]
    worse_p = mean_higher_p if higher_is_worse else mean_lower_p
    p = worse_p(pick(variant), pick(control))
    if p is None or p >= ALPHA:
        return None
    v_mean, c_mean = _mean(pick(variant)), _mean(pick(control))
    numbers = {
        f"variant_{metric}": v_mean,
        f"control_{metric}": c_mean,
        f"variant_{metric}_n": len(pick(variant)),
        f"control_{metric}_n": len(pick(control)),
        "p_value": round(p, 6),
    }
    return (
        f"{metric} is significantly worse: {v_mean:.4g} against the control's "
        f"{c_mean:.4g} (p = {p:.2g}).",
        numbers,
    )


def stop_reason(variant: Sample, control: Sample, guard_metric: str) -> tuple[str, dict] | None:
    """Why the variant must stop, with the numbers; None while it may go on."""
    if variant.requests < MIN_REQUESTS or control.requests == 0:
        return None
    numbers = {
        "variant_requests": variant.requests,
        "variant_errors": variant.errors,
        "variant_error_rate": round(variant.error_rate, 4),
        "control_requests": control.requests,
        "control_errors": control.errors,
        "control_error_rate": round(control.error_rate, 4),
    }
    error_p = error_rate_worse_p(variant, control)
    if (
        variant.errors
        and variant.error_rate >= ERROR_RATIO * control.error_rate
        and error_p is not None
        and error_p < ALPHA
    ):
        numbers["p_value"] = round(error_p, 6)
        return (
            f"Error rate {variant.error_rate:.1%} is at least {ERROR_RATIO:g} times the control's "
            f"{control.error_rate:.1%} over {variant.requests} requests (p = {error_p:.2g}).",
            numbers,
        )
    if guarded := guard_verdict(variant, control, guard_metric):
        reason, guard_numbers = guarded
        return reason, numbers | guard_numbers
    return None


def check_running_experiments() -> list[ExperimentArm]:
    """Stop every variant (A/B or shadow) that must stop; returns the arms stopped."""
    stopped = []
    running = Experiment.objects.filter(state=Experiment.State.RUNNING)
    for experiment in running.prefetch_related("arms"):
        arms = list(experiment.arms.all())
        control = next(arm for arm in arms if arm.is_control)
        for arm in arms:
            if arm.is_control or arm.stopped_at is not None:
                continue
            if experiment.mode == Experiment.Mode.SHADOW:
                variant_sample, control_sample = shadow_samples(arm)
            else:
                variant_sample, control_sample = arm_sample(arm), arm_sample(control)
            verdict = stop_reason(variant_sample, control_sample, experiment.guard_metric)
            if verdict is None:
                continue
            reason, numbers = verdict
            if experiment.mode == Experiment.Mode.SHADOW:
                reason = f"Shadow variant: {reason}"
            try:
                arm_stop(arm=arm, reason=reason, numbers=numbers)
            except RolloutError:  # ended meanwhile by an editor
                continue
            log.warning("experiment %s: stopped %s: %s", experiment.name, arm.name, reason)
            stopped.append(arm)
    return stopped
