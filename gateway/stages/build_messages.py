"""Stage 6: the provider request: system prompt first (a stable, cacheable prefix), then history."""

from __future__ import annotations

from django.conf import settings

from chat.selectors import history_before
from gateway.db import in_db_thread
from gateway.providers import ChatRequest
from prompts_admin.models import PromptTemplate


async def build_request(
    *, template: PromptTemplate, conversation_id, reply_id: int, context: str = ""
) -> ChatRequest:
    """`context`: the retrieval stage's fenced passages, after the stable system prompt."""
    history = await in_db_thread(history_before)(
        conversation_id, reply_id, settings.CHAT_HISTORY_MESSAGES
    )
    return ChatRequest(
        model=template.model.name,
        system=template.system_prompt + context,
        messages=history,
        max_output_tokens=template.max_output_tokens,
        temperature=template.temperature,
    )
