"""Writes of guardrail data: what fired, blocked messages, and staff reviews."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from chat.models import Message, Status
from guardrails.checks import Verdict
from guardrails.models import GuardrailEvent, Review


def event_record(
    *,
    stage: str,
    verdict: Verdict | None = None,
    excerpt: str = "",
    pii_types: Iterable[str] = (),
    request_id: UUID | None = None,
    user_id: int | None = None,
    template_id: int | None = None,
    message_id: int | None = None,
) -> GuardrailEvent:
    """Record a guardrail that fired, or (without a verdict) which PII types were redacted."""
    return GuardrailEvent.objects.create(
        stage=stage,
        action=verdict.action if verdict else "redact",
        reason=verdict.reason if verdict else "pii",
        rules=list(verdict.rules) if verdict else [],
        score=verdict.score if verdict else None,
        pii_types=sorted(set(pii_types)),
        excerpt=excerpt,
        request_id=request_id,
        user_id=user_id,
        template_id=template_id,
        message_id=message_id,
    )


def message_block(*, message_id: int) -> None:
    """Mark the user's message as blocked: kept for them, never sent to a model again."""
    Message.objects.filter(id=message_id).update(status=Status.BLOCKED, updated_at=timezone.now())


@transaction.atomic
def event_review(*, events: Iterable[GuardrailEvent], review: str, reviewer) -> int:
    """Staff's judgement on blocks; false positives become benign training rows."""
    ids = [event.id for event in events]
    return GuardrailEvent.objects.filter(id__in=ids).update(
        review=Review(review), reviewed_by=reviewer, reviewed_at=timezone.now()
    )
