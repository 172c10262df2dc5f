"""Celery tasks: automatic rollback (beat) and shadow runs."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from prompts_admin.auto_rollback import check_running_experiments
from prompts_admin.shadow import shadow_run


@shared_task
def check_experiments() -> int:
    return len(check_running_experiments())


@shared_task
def run_shadow(arm_id: int, request_id: str) -> None:
    shadow_run(arm_id=arm_id, request_id=UUID(request_id))
