"""The numbers admin shows: per version of a template, per arm of an experiment, shadow runs."""

from __future__ import annotations

from django.db.models import Avg, Count, Q

from observability.models import RequestLog
from prompts_admin.models import Experiment, PromptTemplate, ShadowRun
from prompts_admin.stats import Report, Sample, report


def version_reports(template: PromptTemplate) -> list[Report]:
    return [
        report(f"v{version.number}", Sample.of(RequestLog.objects.filter(prompt_version=version)))
        for version in template.versions.all()
    ]


def experiment_reports(experiment: Experiment) -> list[Report]:
    arms = list(experiment.arms.select_related("version"))
    samples = {arm.pk: Sample.of(RequestLog.objects.filter(experiment_arm=arm)) for arm in arms}
    control = next((arm for arm in arms if arm.is_control), None)
    rows = []
    for arm in arms:
        share = "rest" if arm.is_control else f"{arm.percent} %"
        name = f"{arm.name} (v{arm.version.number}, {share})"
        if arm.stopped_at:
            name += f" — stopped: {arm.stop_reason}"
        baseline = samples[control.pk] if control and not arm.is_control else None
        rows.append(report(name, samples[arm.pk], baseline))
    return rows


def shadow_reports(experiment: Experiment) -> list[Report]:
    """Per shadow variant: its own answers against the answers served for the same turns."""
    from prompts_admin.auto_rollback import shadow_samples

    rows = []
    for arm in experiment.arms.filter(is_control=False).select_related("version"):
        shadow, served = shadow_samples(arm)
        name = f"{arm.name} (v{arm.version.number}, shadow of {arm.percent} %)"
        if arm.stopped_at:
            name += f" — stopped: {arm.stop_reason}"
        rows.append(report(f"served answers to {arm.name}'s turns", served))
        rows.append(report(name, shadow, served))
    return rows


def shadow_summary(experiment: Experiment) -> list[dict]:
    runs = ShadowRun.objects.filter(arm__experiment=experiment)
    return list(
        runs.values("arm__name", "arm__version__number")
        .annotate(
            runs=Count("id"),
            failed=Count("id", filter=~Q(status="complete")),
            similarity=Avg("similarity"),
            latency_ms=Avg("latency_ms"),
            cost=Avg("cost"),
        )
        .order_by("arm__name")
    )
