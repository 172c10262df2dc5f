"""Emergency mode's cache-only answers: an earlier complete reply to the very same question.

This exact-text match needs nothing but the database, so it is asked first; when it finds
nothing, stage 0 asks the semantic cache for a paraphrase (gateway/stages/emergency_answer.py).

Only opening questions are matched, on both sides: the earlier reply answered the question with
no conversation before it, and the new question has none either, so the answer cannot depend on
a history the user does not share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import Exists, F, Func, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Lower, Trim

from chat.models import Message, Role, Status

if TYPE_CHECKING:
    from gateway.stages.cache_lookup import CacheLookup

LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class RepeatAnswer:
    text: str
    model: str
    simulated: bool
    cache: CacheLookup | None = None  # when it came from the semantic cache: the hit, to log


def normalise(text: str) -> str:
    """Case and runs of whitespace do not make a different question."""
    return " ".join(text.split()).lower()


def _normalised_content():
    collapsed = Func(
        F("content"),
        Value(r"\s+"),
        Value(" "),
        Value("g"),
        function="REGEXP_REPLACE",
        output_field=TextField(),
    )
    return Lower(Trim(collapsed))


def is_opening_message(conversation_id: UUID) -> bool:
    return not Message.objects.filter(conversation_id=conversation_id).exists()


def repeat_answer(*, template_id: int, text: str, now: datetime) -> RepeatAnswer | None:
    """The latest complete reply of this assistant to the same opening question, if any."""
    earlier = Message.objects.filter(conversation=OuterRef("conversation"), id__lt=OuterRef("id"))
    following = Message.objects.filter(
        conversation=OuterRef("conversation"), id__gt=OuterRef("id")
    ).order_by("id")
    questions = (
        Message.objects.filter(
            role=Role.USER,
            conversation__template_id=template_id,
            created_at__gte=now - LOOKBACK,
        )
        .annotate(question=_normalised_content())
        .filter(question=normalise(text))
        .exclude(Exists(earlier))
        .annotate(reply_id=Subquery(following.values("id")[:1]))
        .order_by("-id")
        .values("reply_id")[:20]
    )
    reply = (
        Message.objects.filter(
            id__in=[q["reply_id"] for q in questions if q["reply_id"]],
            role=Role.ASSISTANT,
            status=Status.COMPLETE,
        )
        .exclude(content="")
        .order_by("-id")
        .first()
    )
    if reply is None:
        return None
    return RepeatAnswer(text=reply.content, model=reply.model, simulated=reply.simulated)
