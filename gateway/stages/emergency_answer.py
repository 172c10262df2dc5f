"""Emergency mode's cache-only answer: an earlier reply to the same question, at no cost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING

from budgets.admission import Admission
from chat.models import Status
from chat.services import SavedInput, reply_assign_model
from gateway.db import in_db_thread
from gateway.events import Accepted, Delta, Done, Event, Notice
from gateway.stages.record import TurnOutcome, record
from gateway.usage import Usage
from prompts_admin.models import PromptTemplate

if TYPE_CHECKING:
    from gateway.pipeline import Turn


async def answer_from_repeat(
    turn: Turn, saved: SavedInput, template: PromptTemplate, admission: Admission
) -> AsyncIterator[Event]:
    """Reply with `admission.repeat`: recorded like any reply, with zero tokens and zero cost."""
    started = time.monotonic()
    repeat = admission.repeat
    await in_db_thread(reply_assign_model)(
        reply_id=saved.reply_id, model=repeat.model, simulated=repeat.simulated
    )
    yield Accepted(
        saved.user_message_id, saved.reply_id, repeat.model, repeat.simulated, retry=turn.retry
    )
    if admission.notice:
        yield Notice(admission.notice)
    yield Delta(repeat.text)
    latency_ms = int((time.monotonic() - started) * 1000)
    await record(
        TurnOutcome(
            request_id=turn.request_id,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            template_id=template.id,
            reply_id=saved.reply_id,
            model_requested=template.model.name,
            model=repeat.model,
            provider=template.model.provider,
            simulated=repeat.simulated,
            content=repeat.text,
            status=Status.COMPLETE,
            usage=None,
            cost=Decimal(0),  # no model was called: a cache hit costs nothing, and says so
            priced=True,
            latency_ms=latency_ms,
            ttft_ms=latency_ms,
        )
    )
    yield Done(
        usage=Usage(),
        cost=Decimal(0),
        model=repeat.model,
        cache_hit=True,
        timings={"ttft_ms": latency_ms, "latency_ms": latency_ms},
    )
