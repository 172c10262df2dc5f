"""Prompt caching: the system prompt is the stable prefix, first and marked cacheable for
Anthropic; cached and cache-write tokens either provider reports are priced at their own rates."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from chat.models import Conversation
from gateway.pipeline import Turn, run_turn
from observability.models import RequestLog
from prompts_admin.services import label_move, version_create

pytestmark = pytest.mark.django_db(transaction=True)


def _turn(conversation: Conversation, text: str) -> None:
    async def collect():
        try:
            return [e async for e in run_turn(Turn(conversation.user_id, conversation.id, text))]
        finally:
            await database_sync_to_async(connections.close_all)()

    asyncio.run(collect())


def test_anthropic_gets_the_rendered_version_first_marked_cacheable_and_cache_reads_are_cheap(
    make_user, anthropic_template, simulator
):
    version = version_create(
        template=anthropic_template,
        system_prompt="You are {{ assistant_name }}. " + "Stable policy text. " * 50,
        change_note="long stable prefix",
    )
    label_move(
        template=anthropic_template, name="production", version=version, actor=None, reason=""
    )
    conversation = Conversation.objects.create(user=make_user(), template=anthropic_template)
    usage = {"input_tokens": 20, "cached_input_tokens": 1000, "cache_write_tokens": 0}
    simulator.post("/_sim/script", json={"usage": usage | {"output_tokens": 5}})
    _turn(conversation, "first question")
    simulator.post("/_sim/script", json={"usage": {"input_tokens": 30, "output_tokens": 5}})
    _turn(conversation, "second question")

    requests = simulator.get("/_sim/requests").json()["requests"]
    systems = [r["system"] for r in requests]
    # A byte-identical, cache-marked prefix on every turn; the per-request canary comes after it.
    assert systems[0][0] == systems[1][0]
    assert systems[0][1] != systems[1][1] and "cache_control" not in systems[0][1]
    block = systems[0][0]
    assert block["cache_control"] == {"type": "ephemeral"}
    assert block["text"].startswith("You are Claude assistant. Stable policy text.")
    assert [m["role"] for m in requests[1]["messages"]] == ["user", "assistant", "user"]

    first = RequestLog.objects.order_by("id").first()
    model = anthropic_template.model
    assert (first.input_tokens, first.cached_input_tokens) == (20, 1000)
    expected = 20 * model.input_price + 1000 * model.cached_input_price + 5 * model.output_price
    assert first.cost == expected / Decimal(1_000_000)
    assert first.prompt_version == version
