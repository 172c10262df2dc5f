"""Reads: which version a turn is served, and the history shown in admin.

Read from the database on every turn (a few indexed queries), never cached in a process, so a
label move, ramp or rollback is used by the next request in every process.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.utils import timezone

from gateway.models import LanguageModel
from prompts_admin.assignment import arm_for
from prompts_admin.models import (
    Experiment,
    ExperimentArm,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
)
from prompts_admin.variables import PromptTemplateError, render_prompt, turn_values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptChoice:
    """What one turn is told, and why: the version served and the experiment arm, if any."""

    system_prompt: str
    model: LanguageModel
    version: PromptVersion | None
    arm: ExperimentArm | None = None
    # Shadow mode: the variant that also answers this turn in the background, unseen.
    shadow_arm: ExperimentArm | None = None


def running_experiment(template: PromptTemplate) -> Experiment | None:
    return (
        Experiment.objects.filter(template=template, state=Experiment.State.RUNNING)
        .prefetch_related("arms__version__model")
        .first()
    )


def labelled_version(template: PromptTemplate, name: str) -> PromptVersion | None:
    label = (
        PromptLabel.objects.filter(template=template, name=name)
        .select_related("version__model")
        .first()
    )
    if label is not None:
        return label.version
    # A template without the label still answers, with its newest version.
    return template.versions.select_related("model").order_by("-number").first()


def prompt_for_turn(
    *, template: PromptTemplate, user_id: int, user_name: str, today: dt.date | None = None
) -> PromptChoice:
    """The version (and arm) serving `user_id` now; the production label if anything fails."""
    today = today or timezone.localdate()
    try:
        if experiment := running_experiment(template):
            return _experiment_choice(experiment, template, user_id, user_name, today)
    except (PromptTemplateError, ExperimentArm.DoesNotExist, StopIteration):
        log.exception("experiment for %s unusable; serving production", template.slug)
    version = labelled_version(template, PromptLabel.PRODUCTION)
    return _choice(version, template, user_name, today)


def _experiment_choice(
    experiment: Experiment,
    template: PromptTemplate,
    user_id: int,
    user_name: str,
    today: dt.date,
) -> PromptChoice:
    arms = sorted(experiment.arms.all(), key=lambda arm: arm.pk)
    arm = arm_for(user_id, experiment.salt, arms)
    if experiment.mode == Experiment.Mode.SHADOW:
        control = next(a for a in arms if a.is_control)
        shadow = None if arm.is_control else arm
        return _choice(control.version, template, user_name, today, arm=control, shadow=shadow)
    return _choice(arm.version, template, user_name, today, arm=arm)


def _choice(
    version: PromptVersion | None,
    template: PromptTemplate,
    user_name: str,
    today: dt.date,
    *,
    arm: ExperimentArm | None = None,
    shadow: ExperimentArm | None = None,
) -> PromptChoice:
    if version is None:  # not reachable once migrations ran: every template has version 1
        return PromptChoice(template.system_prompt, template.model, None)
    return PromptChoice(
        system_prompt=render_version(version, template, user_name, today),
        model=version.model or template.model,
        version=version,
        arm=arm,
        shadow_arm=shadow,
    )


def render_version(
    version: PromptVersion, template: PromptTemplate, user_name: str, today: dt.date
) -> str:
    values = turn_values(
        declared=version.variables,
        user_name=user_name,
        assistant_name=template.name,
        today=today,
    )
    return render_prompt(version.system_prompt, values)
