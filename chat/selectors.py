"""Reads of conversations and messages, always scoped to their owner."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from chat.models import SEARCH_CONFIG, Conversation, Message, Role, Source, Status
from gateway.cache.selectors import with_cache_flag
from gateway.turn_memo import once_per_turn
from prompts_admin.models import PromptTemplate

SIDEBAR_LIMIT = 100


def conversations_for(user: AbstractBaseUser, *, archived: bool = False) -> QuerySet[Conversation]:
    # API calls keep their messages in conversations too; the sidebar is for chats.
    return Conversation.objects.filter(user=user, archived=archived, source=Source.CHAT)


def conversation_for(user: AbstractBaseUser, conversation_id: UUID) -> Conversation:
    """The user's own conversation, or 404: other people's conversations do not exist for them."""
    return get_object_or_404(
        Conversation.objects.select_related("template", "template__model"),
        id=conversation_id,
        user=user,
    )


def conversations_matching(user: AbstractBaseUser, text: str) -> QuerySet[Conversation]:
    """The user's conversations whose title or any message matches `text` (full-text search)."""
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    in_messages = Message.objects.annotate(
        document=SearchVector("content", config=SEARCH_CONFIG)
    ).filter(conversation=OuterRef("pk"), document=query)
    return (
        Conversation.objects.filter(user=user, source=Source.CHAT)
        .annotate(title_document=SearchVector("title", config=SEARCH_CONFIG))
        .filter(Q(title_document=query) | Exists(in_messages))
    )


@dataclass(frozen=True)
class ConversationGroup:
    label: str
    conversations: list[Conversation]


def grouped_by_recency(conversations: QuerySet[Conversation]) -> list[ConversationGroup]:
    """Today, Yesterday, Previous 7 days, Older: the sidebar's sections, empty ones left out."""
    today = timezone.localdate()
    edges = [
        ("Today", today),
        ("Yesterday", today - timedelta(days=1)),
        ("Previous 7 days", today - timedelta(days=7)),
    ]
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations.order_by("-updated_at")[:SIDEBAR_LIMIT]:
        day = timezone.localdate(conversation.updated_at)
        label = next((name for name, start in edges if day >= start), "Older")
        groups[label].append(conversation)
    order = [name for name, _ in edges] + ["Older"]
    return [ConversationGroup(name, groups[name]) for name in order if groups[name]]


def assistants() -> QuerySet[PromptTemplate]:
    """The assistants a user may start a conversation with, the default first.

    Every template for now: prompts_admin has no user-visible flag yet (see README).
    """
    return PromptTemplate.objects.order_by("-is_default", "name")


def assistant_to_start(template_id: int | None) -> PromptTemplate | None:
    """The chosen assistant, or the default one (or any) when none or an unknown one is asked."""
    chosen = assistants().filter(id=template_id).first() if template_id else None
    return chosen or assistants().first()


def current_leaf_id(conversation: Conversation) -> int | None:
    if conversation.current_leaf_id is not None:
        return conversation.current_leaf_id
    return conversation.messages.order_by("-id").values_list("id", flat=True).first()


def active_path(conversation: Conversation) -> list[Message]:
    """The messages of the branch being shown, oldest first, each annotated with its siblings:
    `branch_index` (1-based), `branch_count`, `previous_branch_id`, `next_branch_id`."""
    messages = list(with_cache_flag(conversation.messages.order_by("id")))
    by_id = {m.id: m for m in messages}
    siblings: dict[int | None, list[Message]] = defaultdict(list)
    for message in messages:
        siblings[message.parent_id].append(message)
    leaf = by_id.get(conversation.current_leaf_id) or (messages[-1] if messages else None)
    path = []
    while leaf is not None:
        path.append(leaf)
        leaf = by_id.get(leaf.parent_id)
    path.reverse()
    for message in path:
        _annotate_branch(message, siblings[message.parent_id])
    return path


def message_with_branch(message_id: int) -> Message:
    """One message with its sibling annotations (see active_path), for re-rendering it alone."""
    message = with_cache_flag(Message.objects.select_related("conversation")).get(id=message_id)
    siblings = list(
        Message.objects.filter(conversation_id=message.conversation_id, parent_id=message.parent_id)
        .order_by("id")
        .only("id")
    )
    _annotate_branch(message, siblings)
    return message


def _annotate_branch(message: Message, siblings: list[Message]) -> None:
    ids = [s.id for s in siblings]
    index = ids.index(message.id)
    message.branch_index = index + 1
    message.branch_count = len(ids)
    message.previous_branch_id = ids[index - 1] if index > 0 else None
    message.next_branch_id = ids[index + 1] if index + 1 < len(ids) else None


def last_sent_client_id(conversation: Conversation) -> str:
    """The draft id of the newest user message, so a reconnecting page can drop that draft."""
    return (
        conversation.messages.filter(role=Role.USER)
        .order_by("-id")
        .values_list("client_id", flat=True)
        .first()
        or ""
    )


@once_per_turn(key=lambda conversation_id, message_id, limit: (conversation_id, message_id, limit))
def history_before(conversation_id: UUID, message_id: int, limit: int) -> list[dict[str, str]]:
    """The last `limit` turns before `message_id` on its branch that a model should see, oldest
    first.

    Replies that failed or broke off are left out: providers refuse empty turns, and a broken
    half-answer would be taken as the model's own, to be continued rather than retried.
    Blocked turns are left out too: a message a guardrail stopped must never reach a model.
    """
    rows = {
        row["id"]: row
        for row in Message.objects.filter(conversation_id=conversation_id).values(
            "id", "parent_id", "role", "content", "status"
        )
    }
    chain = []
    parent = rows[message_id]["parent_id"] if message_id in rows else None
    while parent is not None and len(chain) < limit:
        row = rows[parent]
        usable = not (row["role"] == Role.ASSISTANT and not row["content"]) and row[
            "status"
        ] not in (
            Status.STREAMING,
            Status.FAILED,
            Status.INTERRUPTED,
            Status.BLOCKED,
        )
        if usable:
            chain.append({"role": row["role"], "content": row["content"]})
        parent = row["parent_id"]
    return list(reversed(chain))
