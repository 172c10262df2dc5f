"""Writes: versions, labels, experiments. Called by admin actions, Celery tasks and seeds."""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from gateway.models import LanguageModel
from prompts_admin.assignment import max_percent
from prompts_admin.audit import audit, system_user
from prompts_admin.models import (
    Experiment,
    ExperimentArm,
    ExperimentEvent,
    LabelMove,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
)
from prompts_admin.variables import check_prompt, literal_if_invalid

RAMP_STEPS = (10, 25, 50, 100)
User = AbstractBaseUser | None


class RolloutError(Exception):
    """A label or experiment change that cannot be made; the message says why."""


@transaction.atomic
def version_create(
    *,
    template: PromptTemplate,
    system_prompt: str,
    change_note: str,
    author: User = None,
    variables: Mapping[str, str] | None = None,
    model: LanguageModel | None = None,
) -> PromptVersion:
    """Save the template's next version. Raises PromptTemplateError if the text is refused."""
    variables = dict(variables or {})
    check_prompt(system_prompt, variables)
    PromptTemplate.objects.select_for_update().filter(pk=template.pk).get()
    latest = template.versions.aggregate(n=Max("number"))["n"] or 0
    version = PromptVersion.objects.create(
        template=template,
        number=latest + 1,
        system_prompt=system_prompt,
        variables=variables,
        model=model,
        change_note=change_note,
        author=author,
    )
    PromptTemplate.objects.filter(pk=template.pk).update(system_prompt=system_prompt)
    template.system_prompt = system_prompt
    return version


@transaction.atomic
def template_bootstrap(*, template: PromptTemplate, author: User = None) -> PromptVersion:
    """Version 1 from the template's text, labelled production (a template is never empty).

    For templates made in code (seeds, fixtures): text that is not a valid template is kept
    literal rather than refused. Admin checks an editor's text strictly instead.
    """
    version = version_create(
        template=template,
        system_prompt=literal_if_invalid(template.system_prompt),
        change_note="First version",
        author=author,
    )
    label_move(
        template=template,
        name=PromptLabel.PRODUCTION,
        version=version,
        actor=author,
        reason="First version",
    )
    return version


@transaction.atomic
def label_move(
    *,
    template: PromptTemplate,
    name: str,
    version: PromptVersion,
    actor: User,
    reason: str,
    kind: str = LabelMove.Kind.MOVE,
) -> PromptLabel:
    """Point label `name` at `version` (creating the label if new), on record."""
    if version.template_id != template.pk:
        raise RolloutError(f"Version {version} belongs to another template.")
    label = PromptLabel.objects.select_for_update().filter(template=template, name=name).first()
    previous = label.version if label else None
    if label is None:
        label = PromptLabel.objects.create(template=template, name=name, version=version)
        kind = LabelMove.Kind.CREATE
    else:
        label.version = version
        label.save(update_fields=["version", "updated_at"])
    LabelMove.objects.create(
        label=label,
        kind=kind,
        from_version=previous,
        to_version=version,
        actor=actor,
        reason=reason,
    )
    was = f"v{previous.number}" if previous else "new label"
    audit(
        actor=actor,
        obj=template,
        message=f"Label {name} ({kind}): {was} → v{version.number}. Why: {reason}",
    )
    return label


def rollback_target(label: PromptLabel) -> PromptVersion | None:
    """The version the label served before the current one, skipping versions rolled back from."""
    moves = list(label.moves.select_related("to_version", "from_version"))
    rolled_back_from = {m.from_version_id for m in moves if m.kind == LabelMove.Kind.ROLLBACK}
    for move in moves:  # newest first
        candidate = move.to_version
        if candidate.pk != label.version_id and candidate.pk not in rolled_back_from:
            return candidate
    return None


@transaction.atomic
def label_rollback(*, label: PromptLabel, actor: User, reason: str) -> PromptLabel:
    """Move the label back to its previous version; the next turn in every process uses it."""
    if not reason.strip():
        raise RolloutError("Say why you are rolling back.")
    label = PromptLabel.objects.select_for_update().get(pk=label.pk)
    target = rollback_target(label)
    if target is None:
        raise RolloutError(f"{label.name} has no earlier version to roll back to.")
    return label_move(
        template=label.template,
        name=label.name,
        version=target,
        actor=actor,
        reason=reason,
        kind=LabelMove.Kind.ROLLBACK,
    )


def experiment_problems(experiment: Experiment, arms: list[ExperimentArm]) -> list[str]:
    """Why these arms cannot run (empty when they can)."""
    problems = []
    controls = [arm for arm in arms if arm.is_control]
    variants = [arm for arm in arms if not arm.is_control]
    if len(controls) != 1:
        problems.append("An experiment needs exactly one control arm.")
    if not variants:
        problems.append("An experiment needs at least one variant.")
    if any(arm.version.template_id != experiment.template_id for arm in arms):
        problems.append("Every arm must use a version of the experiment's template.")
    limit = max_percent(len(variants))
    if any(arm.percent > limit for arm in variants):
        problems.append(f"With {len(variants)} variant(s), each can take at most {limit} %.")
    return problems


def _log(experiment: Experiment, action: str, actor: User, reason: str = "", **extra) -> None:
    """The experiment's own event log, and admin's LogEntry (who, when, what, why)."""
    event = ExperimentEvent.objects.create(
        experiment=experiment, action=action, actor=actor, reason=reason, **extra
    )
    what = f"Experiment {action}" + (f" ({event.arm.name})" if event.arm else "")
    if event.numbers:
        what += f": {event.numbers}"
    audit(actor=actor, obj=experiment, message=f"{what}. Why: {reason}" if reason else what)


@transaction.atomic
def experiment_start(*, experiment: Experiment, actor: User) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.state != Experiment.State.DRAFT:
        raise RolloutError(f"{experiment} is {experiment.state}; only a draft can start.")
    arms = list(experiment.arms.select_related("version"))
    if problems := experiment_problems(experiment, arms):
        raise RolloutError(" ".join(problems))
    experiment.state = Experiment.State.RUNNING
    experiment.started_at = timezone.now()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["state", "started_at"])
    except IntegrityError as exc:
        raise RolloutError(f"{experiment.template} already has a running experiment.") from exc
    split = {arm.name: arm.percent for arm in arms if not arm.is_control}
    _log(experiment, "start", actor, numbers={"percent": split})
    return experiment


def _running(experiment: Experiment) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.state != Experiment.State.RUNNING:
        raise RolloutError(f"{experiment} is not running.")
    return experiment


def next_ramp_step(current_total: int) -> int | None:
    return next((step for step in RAMP_STEPS if step > current_total), None)


@transaction.atomic
def experiment_ramp(*, experiment: Experiment, actor: User) -> int:
    """Raise the variants' combined share to the next step (10 → 25 → 50 → 100 %)."""
    experiment = _running(experiment)
    variants = list(experiment.arms.filter(is_control=False).select_for_update())
    active = [arm for arm in variants if arm.stopped_at is None]
    if not active:
        raise RolloutError("Every variant is stopped.")
    step = next_ramp_step(sum(arm.percent for arm in active))
    if step is None:
        raise RolloutError("The variants already get all the traffic they can.")
    each = min(step // len(active), max_percent(len(variants)))
    for arm in active:
        arm.percent = each
        arm.save(update_fields=["percent"])
    _log(experiment, "ramp", actor, numbers={"percent": {arm.name: each for arm in active}})
    return each * len(active)


@transaction.atomic
def experiment_promote(*, experiment: Experiment, arm: ExperimentArm, actor: User) -> PromptLabel:
    """Give everyone the arm's version: production moves to it and the experiment ends."""
    experiment = _running(experiment)
    if arm.experiment_id != experiment.pk or arm.stopped_at is not None:
        raise RolloutError(f"{arm.name} is not an active arm of {experiment}.")
    label = label_move(
        template=experiment.template,
        name=PromptLabel.PRODUCTION,
        version=arm.version,
        actor=actor,
        reason=f"Promoted from experiment {experiment.name} ({arm.name})",
        kind=LabelMove.Kind.PROMOTE,
    )
    _end(experiment, Experiment.State.PROMOTED)
    _log(experiment, "promote", actor, arm=arm)
    return label


@transaction.atomic
def experiment_abort(*, experiment: Experiment, actor: User, reason: str = "") -> Experiment:
    """Stop the experiment: every user is served the control again (labels unchanged)."""
    experiment = _running(experiment)
    _end(experiment, Experiment.State.ABORTED)
    _log(experiment, "abort", actor, reason)
    return experiment


def _end(experiment: Experiment, state: str) -> None:
    experiment.state = state
    experiment.ended_at = timezone.now()
    experiment.save(update_fields=["state", "ended_at"])


@transaction.atomic
def arm_stop(*, arm: ExperimentArm, reason: str, numbers: dict, actor: User = None) -> None:
    """Return a variant's traffic to the control; the experiment ends with its last variant."""
    experiment = _running(arm.experiment)
    arm = ExperimentArm.objects.select_for_update().get(pk=arm.pk)
    arm.percent = 0
    arm.stopped_at = timezone.now()
    arm.stop_reason = reason
    arm.stop_numbers = numbers
    arm.save(update_fields=["percent", "stopped_at", "stop_reason", "stop_numbers"])
    action = "auto_stop" if actor is None else "stop"
    _log(experiment, action, actor or system_user(), reason, arm=arm, numbers=numbers)
    if not experiment.arms.filter(is_control=False, stopped_at__isnull=True).exists():
        _end(experiment, Experiment.State.ABORTED)
