"""Automatic rollback (run by beat): stop a variant that is clearly worse than its control.

A variant is stopped, its traffic returned to the control, when over at least MIN_REQUESTS
requests its error rate reaches ERROR_RATIO times the control's and the difference is significant
(so one error against none is not enough), or when it is significantly worse on the metric
the editor chose. The numbers that triggered it are kept on the arm and in the event log.
"""

from __future__ import annotations

import logging

from observability.models import RequestLog
from prompts_admin.models import Experiment, ExperimentArm
from prompts_admin.services import RolloutError, arm_stop
from prompts_admin.stats import Sample, error_rate_worse_p, mean_higher_p

log = logging.getLogger(__name__)

MIN_REQUESTS = 100
ERROR_RATIO = 2.0
ALPHA = 0.05


def arm_sample(arm: ExperimentArm) -> Sample:
    return Sample.of(RequestLog.objects.filter(experiment_arm=arm))


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
    values = {"latency_ms": lambda s: s.latencies_ms, "cost": lambda s: s.costs}
    if guard_metric in values:
        pick = values[guard_metric]
        p = mean_higher_p(pick(variant), pick(control))
        if p is not None and p < ALPHA:
            v_mean = sum(pick(variant)) / len(pick(variant))
            c_mean = sum(pick(control)) / len(pick(control))
            numbers |= {f"variant_{guard_metric}": v_mean, f"control_{guard_metric}": c_mean}
            numbers["p_value"] = round(p, 6)
            return (
                f"{guard_metric} is significantly worse: {v_mean:.4g} against the control's "
                f"{c_mean:.4g} (p = {p:.2g}).",
                numbers,
            )
    return None


def check_running_experiments() -> list[ExperimentArm]:
    """Stop every variant that must stop; returns the arms stopped."""
    stopped = []
    running = Experiment.objects.filter(state=Experiment.State.RUNNING, mode=Experiment.Mode.AB)
    for experiment in running.prefetch_related("arms"):
        arms = list(experiment.arms.all())
        control = arm_sample(next(arm for arm in arms if arm.is_control))
        for arm in arms:
            if arm.is_control or arm.stopped_at is not None:
                continue
            verdict = stop_reason(arm_sample(arm), control, experiment.guard_metric)
            if verdict is None:
                continue
            reason, numbers = verdict
            try:
                arm_stop(arm=arm, reason=reason, numbers=numbers)
            except RolloutError:  # ended meanwhile by an editor
                continue
            log.warning("experiment %s: stopped %s: %s", experiment.name, arm.name, reason)
            stopped.append(arm)
    return stopped
