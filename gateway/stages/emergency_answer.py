"""Emergency mode's cache-only answer: an earlier reply to the same question, at no cost.

The same question word for word (budgets/repeats.py, asked by admission), or else a paraphrase
the semantic cache finds and verifies, in the scope a normal turn would use (the served prompt
version and model, no history). Both only for an opening question: the earlier answer had no
conversation before it either.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from budgets.admission import Admission
from budgets.repeats import RepeatAnswer, is_opening_message
from chat.models import Conversation, Status
from chat.services import SavedInput, reply_assign_model
from gateway.db import in_db_thread
from gateway.events import Accepted, Blocked, Delta, Done, Event, Notice
from gateway.stages.cache_lookup import opening_question_lookup
from gateway.stages.record import TurnOutcome, record
from gateway.stages.select_prompt import select_prompt, served_template
from gateway.usage import Usage
from guardrails.checks import Verdict
from prompts_admin.models import PromptTemplate

if TYPE_CHECKING:
    from gateway.pipeline import Turn

CACHED_NOTICE = "Spending is capped for today: this is an earlier answer to a question like yours."


def _opening_template(user_id: int, conversation_id: UUID) -> PromptTemplate | None:
    """The conversation's template if the user's question opens it, else None."""
    conversation = (
        Conversation.objects.select_related("template__model")
        .filter(id=conversation_id, user_id=user_id)
        .first()
    )
    if conversation is None or not is_opening_message(conversation_id):
        return None
    return conversation.template


async def with_cached_answer(
    admission: Admission, *, user_id: int, conversation_id: UUID, text: str | None
) -> Admission:
    """In emergency mode, when no earlier reply repeats the question: the semantic cache's
    verified answer to a paraphrase, if it has one (else `admission` unchanged: the cheap model)."""
    if not admission.emergency or admission.repeat is not None or admission.refusal or not text:
        return admission
    template = await in_db_thread(_opening_template)(user_id, conversation_id)
    if template is None:
        return admission
    choice = await select_prompt(template=template, user_id=user_id)
    lookup = await opening_question_lookup(
        template=served_template(template, choice),
        user_id=user_id,
        question=text,
        version=str(choice.version.pk) if choice.version else None,
        system_prompt=choice.system_prompt,
    )
    if lookup.hit is None:  # a miss, or the cache is off or down
        return admission
    hit = lookup.hit
    repeat = RepeatAnswer(hit.answer, hit.model, hit.simulated, cache=lookup)
    return replace(admission, model=None, repeat=repeat, notice=CACHED_NOTICE)


async def answer_from_repeat(
    turn: Turn, saved: SavedInput, template: PromptTemplate, admission: Admission, verdict: Verdict
) -> AsyncIterator[Event]:
    """Reply with `admission.repeat`: recorded like any reply, with zero tokens and zero cost.
    `verdict`: the input guardrails' judgement; a blocked message gets the notice instead."""
    started = time.monotonic()
    repeat = admission.repeat
    await in_db_thread(reply_assign_model)(
        reply_id=saved.reply_id, model=repeat.model, simulated=repeat.simulated
    )
    yield Accepted(
        saved.user_message_id, saved.reply_id, repeat.model, repeat.simulated, retry=turn.retry
    )
    if verdict.blocked:
        await record(_outcome(turn, saved, template, repeat, verdict=verdict, started=started))
        yield Blocked(verdict.reason, verdict.notice, "input")
        return
    if admission.notice:
        yield Notice(admission.notice)
    yield Delta(repeat.text)
    outcome = _outcome(turn, saved, template, repeat, verdict=None, started=started)
    await record(outcome)
    latency_ms = outcome.latency_ms
    yield Done(
        usage=Usage(),
        cost=Decimal(0),
        model=repeat.model,
        cache_hit=True,
        timings={"ttft_ms": latency_ms, "latency_ms": latency_ms},
    )


def _outcome(
    turn: Turn,
    saved: SavedInput,
    template: PromptTemplate,
    repeat: RepeatAnswer,
    *,
    verdict: Verdict | None,
    started: float,
) -> TurnOutcome:
    latency_ms = int((time.monotonic() - started) * 1000)
    return TurnOutcome.of_turn(
        turn,
        saved,
        template,
        model=repeat.model,
        provider=template.model.provider,
        simulated=repeat.simulated,
        content=verdict.notice if verdict else repeat.text,
        status=Status.BLOCKED if verdict else Status.COMPLETE,
        usage=None,
        cost=Decimal(0),  # no model was called: a cache hit costs nothing, and says so
        priced=True,
        latency_ms=latency_ms,
        ttft_ms=None if verdict else latency_ms,
        error_kind=verdict.reason if verdict else "",
        # A semantic cache hit is logged, and counted on its entry; a blocked turn used none.
        cache=None if verdict else repeat.cache,
    )
