"""Stage 6: the provider request: system prompt first (a stable, cacheable prefix), then history."""

from __future__ import annotations

from django.conf import settings

from budgets.selectors import input_budget
from chat.selectors import history_before
from gateway.db import in_db_thread
from gateway.providers import ChatRequest
from gateway.tokens import trim_history
from prompts_admin.models import PromptTemplate


def _history(
    template: PromptTemplate, system: str, suffix: str, conversation_id, reply_id: int
) -> list[dict]:
    """The latest turns that fit the model's input budget beside `system` and `suffix`."""
    history = history_before(conversation_id, reply_id, settings.CHAT_HISTORY_MESSAGES)
    return trim_history(
        system, history, budget=input_budget(template), model=template.model.name, suffix=suffix
    )


async def build_request(
    *,
    template: PromptTemplate,
    conversation_id,
    reply_id: int,
    system: str | None = None,
    context: str = "",
) -> ChatRequest:
    """`system`: the rendered prompt version chosen by stage 3 (default: the template's text).
    `context`: the retrieval stage's fenced passages, sent after the stable system prompt."""
    system = template.system_prompt if system is None else system
    suffix = context.strip()
    history = await in_db_thread(_history)(template, system, suffix, conversation_id, reply_id)
    return ChatRequest(
        model=template.model.name,
        system=system,
        system_suffix=suffix,
        messages=history,
        max_output_tokens=template.max_output_tokens,
        temperature=template.temperature,
    )
