"""Conversation titles, written in the background by a cheap model after the first exchange.

Best effort: a failed call leaves the title empty (shown as "New chat") and the chat untouched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from chat import fragments, services
from chat.models import Conversation, Role, Status
from chat.title_log import TitleCall, record_title_call
from gateway.models import LanguageModel
from gateway.providers import ChatRequest, ProviderError, endpoint_for, http_timeout, stream_reply
from observability.enqueue import enqueue

log = logging.getLogger(__name__)

TITLE_INSTRUCTIONS = (
    "You name chat conversations. Reply with a title of at most six words for the conversation "
    "below: no quotes, no trailing punctuation, in the language of the conversation."
)
TITLE_REQUEST = "Write a title for this conversation."
EXCERPT_CHARS = 1000


def enqueue_title(conversation_id: UUID) -> None:
    """Queue title generation; a broker outage only costs the title, so it is logged, not raised."""
    from chat.tasks import generate_conversation_title

    # enqueue: no retry schedule against a dead broker, and the loss is counted.
    enqueue(generate_conversation_title, str(conversation_id))


def title_model(conversation: Conversation) -> LanguageModel:
    """CHAT_TITLE_MODEL if it names an active model, else the conversation's own model."""
    name = settings.CHAT_TITLE_MODEL
    chosen = LanguageModel.objects.filter(name=name, is_active=True).first() if name else None
    return chosen or conversation.template.model


def title_request(conversation: Conversation) -> ChatRequest | None:
    saved = conversation.messages.filter(status=Status.COMPLETE).order_by("id")
    first = list(saved.values("role", "content")[:2])
    if [m["role"] for m in first] != [Role.USER, Role.ASSISTANT]:
        return None
    excerpt = "\n\n".join(f"{m['role']}: {m['content'][:EXCERPT_CHARS]}" for m in first)
    return ChatRequest(
        model=title_model(conversation).name,
        system=TITLE_INSTRUCTIONS,
        messages=[{"role": "user", "content": f"{TITLE_REQUEST}\n\n{excerpt}"}],
        max_output_tokens=24,
    )


async def _complete(provider: str, request: ChatRequest, call: TitleCall) -> None:
    limits = http_timeout(connect=5, total=settings.CHAT_TITLE_TIMEOUT_SECONDS)
    async for chunk in stream_reply(endpoint_for(provider), request, limits):
        call.text += chunk.text
        call.usage = chunk.usage or call.usage


def generate_title(conversation_id: UUID) -> str | None:
    """Ask the title model, store the title unless the user set one, and show it on open pages."""
    conversation = Conversation.objects.select_related("template__model").get(id=conversation_id)
    if conversation.title or (request := title_request(conversation)) is None:
        return None
    model = title_model(conversation)
    call = TitleCall(started=time.monotonic())
    try:
        async_to_sync(asyncio.wait_for)(
            _complete(model.provider, request, call), settings.CHAT_TITLE_TIMEOUT_SECONDS
        )
    except (ProviderError, TimeoutError) as error:
        # Billed like a turn even when it fails: the provider may have charged for it.
        record_title_call(conversation, model, request, call, error)
        log.warning("title generation for %s failed", conversation_id, exc_info=True)
        return None
    record_title_call(conversation, model, request, call)
    title = call.text
    if not services.conversation_set_generated_title(conversation_id=conversation_id, title=title):
        return None
    conversation.refresh_from_db(fields=["title"])
    from chat.generation import view_group

    async_to_sync(get_channel_layer().group_send)(
        view_group(conversation.id),
        {
            "type": "chat.fragment",
            "html": fragments.conversation_title_html(conversation.id, conversation.title),
        },
    )
    return conversation.title
