"""Reads of conversations and messages, always scoped to their owner."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from chat.models import Conversation, Message, Role, Status


def conversations_for(user: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user)


def conversation_for(user: AbstractBaseUser, conversation_id: UUID) -> Conversation:
    """The user's own conversation, or 404: other people's conversations do not exist for them."""
    return get_object_or_404(
        Conversation.objects.select_related("template", "template__model"),
        id=conversation_id,
        user=user,
    )


def history_before(conversation_id: UUID, message_id: int, limit: int) -> list[dict[str, str]]:
    """The last `limit` turns before `message_id` that a model should see, oldest first.

    Replies that failed or broke off are left out: providers refuse empty turns, and a broken
    half-answer would be taken as the model's own, to be continued rather than retried.
    Blocked turns are left out too: a message a guardrail stopped must never reach a model.
    """
    rows = (
        Message.objects.filter(conversation_id=conversation_id, id__lt=message_id)
        .exclude(role=Role.ASSISTANT, content="")
        .exclude(status__in=[Status.STREAMING, Status.FAILED, Status.INTERRUPTED, Status.BLOCKED])
        .order_by("-id")
        .values("role", "content")[:limit]
    )
    return [{"role": row["role"], "content": row["content"]} for row in reversed(rows)]
