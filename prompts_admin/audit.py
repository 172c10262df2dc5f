"""Rollout changes in Django admin's own audit log (LogEntry), next to LabelMove/ExperimentEvent.

An auditor reads one place — admin's "History" of the template or experiment, or the LogEntry
table — and finds who, when and why for every label move, rollback and experiment step.
LogEntry needs a user: changes made by beat's automatic rollback are recorded under a dedicated,
inactive system user (it cannot log in) rather than with no one, so "who" always answers:
the machine did it. Changes made by code without an actor (seeds, a template's first version
created in code) have no person behind them and are on record only in LabelMove.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import models

AUTO_ROLLBACK_USERNAME = "auto-rollback"


def system_user():
    """The inactive user automatic rollbacks are recorded under (created on first use)."""
    user, created = get_user_model().objects.get_or_create(
        username=AUTO_ROLLBACK_USERNAME,
        defaults={"first_name": "Automatic rollback (Celery beat)", "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def audit(*, actor, obj: models.Model, message: str) -> None:
    """One admin LogEntry (a change of `obj`) by `actor`, with `message` as what and why."""
    if actor is None:
        return
    LogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[obj],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )
