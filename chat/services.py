"""Writes to conversations and messages. Called by views, the consumer, the pipeline and tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import selectors
from chat.models import Conversation, Message, Role, Status

TITLE_LENGTH = 60


class ConversationBusy(Exception):
    """A reply is still being generated in this conversation."""


class NothingToRetry(Exception):
    """A retry was asked for in a conversation without a user message."""


class NoTemplate(Exception):
    """No assistant is configured to start a conversation with."""


class AlreadySent(Exception):
    """The page sent a draft the server had already saved (a re-send after a reconnect)."""


def conversation_create(*, user: AbstractBaseUser, template_id: int | None = None) -> Conversation:
    template = selectors.assistant_to_start(template_id)
    if template is None:
        raise NoTemplate("no prompt template exists; create one in admin")
    return Conversation.objects.create(user=user, template=template)


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def conversation_rename(*, conversation: Conversation, title: str) -> None:
    conversation.title = " ".join(title.split())[:TITLE_LENGTH]
    conversation.save(update_fields=["title", "updated_at"])


def conversation_set_archived(*, conversation: Conversation, archived: bool) -> None:
    conversation.archived = archived
    conversation.save(update_fields=["archived", "updated_at"])


def conversation_set_generated_title(*, conversation_id: UUID, title: str) -> bool:
    """Store a generated title unless the user named the conversation meanwhile."""
    title = " ".join(title.split()).strip("\"'").rstrip(".!?:;").strip("\"'")[:TITLE_LENGTH]
    if not title:
        return False
    # update(), not save(): a title arriving later must not move the chat up the sidebar.
    return bool(Conversation.objects.filter(id=conversation_id, title="").update(title=title))


@transaction.atomic
def branch_select(*, conversation: Conversation, message_id: int) -> None:
    """Show the branch through `message_id`, down to its most recent reply."""
    locked = Conversation.objects.select_for_update().get(id=conversation.id)
    if locked.messages.filter(status=Status.STREAMING).exists():
        raise ConversationBusy
    message = locked.messages.get(id=message_id)
    while (child := message.children.order_by("-id").first()) is not None:
        message = child
    locked.current_leaf = message
    locked.save(update_fields=["current_leaf"])


@dataclass(frozen=True)
class SavedInput:
    conversation: Conversation
    user_message_id: int
    reply_id: int


@transaction.atomic
def turn_begin(
    *,
    user_id: int,
    conversation_id: UUID,
    text: str | None,
    client_id: str = "",
    regenerate_of: int | None = None,
    edit_of: int | None = None,
) -> SavedInput:
    """Save the user's message and an empty, streaming reply, before any provider is called.

    `text=None` answers a saved user message again, which is not re-saved: the one before
    `regenerate_of` (a reply), or the last one shown (a retry). `edit_of` saves `text` as a
    new version of that user message. Either way the new messages are siblings of the old
    ones, and the conversation shows the new branch.
    """
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("template", "template__model")
        .get(id=conversation_id, user_id=user_id)
    )
    if conversation.messages.filter(status=Status.STREAMING).exists():
        raise ConversationBusy
    if client_id and (
        sent := conversation.messages.filter(client_id=client_id).values_list("id", flat=True)
    ):
        raise AlreadySent(sent[0])
    if text is None:
        user_message = _message_to_answer_again(conversation, regenerate_of)
    else:
        if edit_of is not None:
            edited = conversation.messages.filter(id=edit_of, role=Role.USER).first()
            if edited is None:  # not a message of this conversation: nothing to edit
                raise NothingToRetry
            parent_id = edited.parent_id
        else:
            parent_id = selectors.current_leaf_id(conversation)
        user_message = Message.objects.create(
            conversation=conversation,
            role=Role.USER,
            content=text,
            parent_id=parent_id,
            client_id=client_id,
        )
    try:
        with transaction.atomic():
            reply = Message.objects.create(
                conversation=conversation,
                role=Role.ASSISTANT,
                status=Status.STREAMING,
                parent=user_message,
            )
    except IntegrityError as exc:  # another process won the race for this conversation
        raise ConversationBusy from exc
    conversation.current_leaf = reply
    conversation.save(update_fields=["current_leaf", "updated_at"])
    return SavedInput(conversation, user_message.id, reply.id)


def _message_to_answer_again(conversation: Conversation, regenerate_of: int | None) -> Message:
    if regenerate_of is not None:
        reply = conversation.messages.filter(id=regenerate_of, role=Role.ASSISTANT).first()
        if reply is None or reply.parent is None:
            raise NothingToRetry
        return reply.parent
    for message in reversed(selectors.active_path(conversation)):
        if message.role == Role.USER:
            return message
    raise NothingToRetry


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
