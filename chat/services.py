"""Writes to conversations and messages. Called by views, the consumer, the pipeline and tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import Conversation, Message, Role, Status
from prompts_admin.models import PromptTemplate

TITLE_LENGTH = 60


class ConversationBusy(Exception):
    """A reply is still being generated in this conversation."""


class NothingToRetry(Exception):
    """A retry was asked for in a conversation without a user message."""


class NoTemplate(Exception):
    """No assistant is configured to start a conversation with."""


def conversation_create(*, user: AbstractBaseUser) -> Conversation:
    template = PromptTemplate.objects.filter(is_default=True).first()
    template = template or PromptTemplate.objects.first()
    if template is None:
        raise NoTemplate("no prompt template exists; create one in admin")
    return Conversation.objects.create(user=user, template=template)


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


@dataclass(frozen=True)
class SavedInput:
    conversation: Conversation
    user_message_id: int
    reply_id: int


@transaction.atomic
def turn_begin(*, user_id: int, conversation_id: UUID, text: str | None) -> SavedInput:
    """Save the user's message and an empty, streaming reply, before any provider is called.

    `text=None` retries: the reply answers the user's last message again, which is not re-saved.
    """
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("template", "template__model")
        .get(id=conversation_id, user_id=user_id)
    )
    if conversation.messages.filter(status=Status.STREAMING).exists():
        raise ConversationBusy
    if text is None:
        user_message = conversation.messages.filter(role=Role.USER).order_by("-id").first()
        if user_message is None:
            raise NothingToRetry
    else:
        user_message = Message.objects.create(
            conversation=conversation, role=Role.USER, content=text
        )
    try:
        with transaction.atomic():
            reply = Message.objects.create(
                conversation=conversation, role=Role.ASSISTANT, status=Status.STREAMING
            )
    except IntegrityError as exc:  # another process won the race for this conversation
        raise ConversationBusy from exc
    if not conversation.title:
        conversation.title = " ".join(user_message.content.split())[:TITLE_LENGTH]
    conversation.save(update_fields=["title", "updated_at"])
    return SavedInput(conversation, user_message.id, reply.id)


def reply_save_partial(*, reply_id: int, content: str) -> None:
    """Checkpoint a streaming reply, so a reload or a crash keeps what was already shown."""
    Message.objects.filter(id=reply_id, status=Status.STREAMING).update(
        content=content, updated_at=timezone.now()
    )


def interrupt_stale_streams(*, older_than: timedelta) -> int:
    """Mark replies whose generating process stopped checkpointing as interrupted."""
    cutoff = timezone.now() - older_than
    return Message.objects.filter(status=Status.STREAMING, updated_at__lt=cutoff).update(
        status=Status.INTERRUPTED, error_kind="interrupted", updated_at=timezone.now()
    )


def reply_assign_model(*, reply_id: int, model: str, simulated: bool) -> None:
    """Record which model is writing a reply as soon as it is chosen (shown while streaming)."""
    Message.objects.filter(id=reply_id).update(model=model, simulated=simulated)
