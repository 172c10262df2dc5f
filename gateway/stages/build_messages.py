"""Stage 6: the provider request: system prompt first (a stable, cacheable prefix), then history."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from budgets.selectors import input_budget
from chat.selectors import history_before
from gateway.db import in_db_thread
from gateway.providers import ChatRequest
from gateway.stages.retrieval import Retrieved, context_from, passage_blocks
from gateway.tokens import prompt_tokens, trim_history
from prompts_admin.models import PromptTemplate


def passages_that_fit(
    retrieved: Retrieved, *, system: str, latest: list[dict], budget: int, model: str
) -> tuple[Retrieved, str]:
    """`retrieved` without its lowest-ranked passages, as many as must go for the system prompt,
    the passages and the user's latest message to fit in `budget` input tokens, and the context
    block of those kept. The message is always sent (admission made sure it fits beside the
    system prompt), so passages give way."""
    blocks = passage_blocks(retrieved.passages)
    while blocks and prompt_tokens(system, latest, model, suffix=context_from(blocks)) > budget:
        blocks = blocks[:-1]
    if len(blocks) < len(retrieved.passages):
        retrieved = replace(retrieved, passages=retrieved.passages[: len(blocks)])
    return retrieved, context_from(blocks)


def _history_and_passages(
    template: PromptTemplate,
    system: str,
    retrieved: Retrieved,
    conversation_id,
    reply_id: int,
    reserved: int,
) -> tuple[list[dict], Retrieved, str]:
    """The passages that fit beside the latest message, then the latest turns that fit beside
    them, all within the input budget less `reserved` tokens; and the passages' context block."""
    history = history_before(conversation_id, reply_id, settings.CHAT_HISTORY_MESSAGES)
    budget = input_budget(template) - reserved
    model = template.model.name
    retrieved, context = passages_that_fit(
        retrieved, system=system, latest=history[-1:], budget=budget, model=model
    )
    history = trim_history(system, history, budget=budget, model=model, suffix=context)
    return history, retrieved, context


async def build_request(
    *,
    template: PromptTemplate,
    conversation_id,
    reply_id: int,
    system: str | None = None,
    retrieved: Retrieved | None = None,
    reserved_tokens: int = 0,
) -> tuple[ChatRequest, Retrieved]:
    """The request, and the retrieved passages it carries (sent after the stable system prompt;
    those that did not fit are dropped, lowest-ranked first).

    `system`: the rendered prompt version chosen by stage 3 (default: the template's text).
    `reserved_tokens`: what a later stage adds to the request (the guardrails' canary line)."""
    system = template.system_prompt if system is None else system
    history, retrieved, context = await in_db_thread(_history_and_passages)(
        template, system, retrieved or Retrieved(), conversation_id, reply_id, reserved_tokens
    )
    request = ChatRequest(
        model=template.model.name,
        system=system,
        system_suffix=context,
        messages=history,
        max_output_tokens=template.max_output_tokens,
        temperature=template.temperature,
    )
    return request, retrieved
