"""Stage 9: the reply and its request log, written together so neither is ever lost alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from chat.models import Message
from gateway.cache.remember import count_hit, remember
from gateway.db import in_db_thread
from gateway.stages.cache_lookup import CacheLookup
from gateway.usage import Usage
from observability.models import RequestLog
from observability.tracing import stage_span
from observability.turns import after_record

if TYPE_CHECKING:
    from chat.services import SavedInput
    from gateway.pipeline import Turn
    from prompts_admin.models import PromptTemplate


@dataclass(frozen=True)
class TurnOutcome:
    request_id: UUID
    user_id: int
    conversation_id: UUID
    template_id: int
    reply_id: int
    model_requested: str
    model: str  # the model that served the reply (the requested one unless a fallback did)
    provider: str
    simulated: bool
    content: str
    status: str
    usage: Usage | None
    cost: Decimal | None
    priced: bool
    latency_ms: int
    ttft_ms: int | None
    error_kind: str = ""
    attempts: list[dict] = field(default_factory=list)
    fallback_used: bool = False
    prompt_version_id: int | None = None
    experiment_arm_id: int | None = None
    retrieval_ms: int | None = None
    retrieval_error: str = ""
    citations: list[dict] = field(default_factory=list)
    tools_used: list[dict] = field(default_factory=list)
    template: str = ""  # the template's slug, for metrics
    cache: CacheLookup | None = None

    @classmethod
    def of_turn(
        cls, turn: Turn, saved: SavedInput, template: PromptTemplate, **fields
    ) -> TurnOutcome:
        """The outcome of `turn`, whose identity every path (model, cache, emergency) records
        the same way; `fields` are what happened."""
        return cls(
            request_id=turn.request_id,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            template_id=template.id,
            template=template.slug,
            reply_id=saved.reply_id,
            model_requested=template.model.name,
            **fields,
        )


def record_turn(outcome: TurnOutcome) -> None:
    with transaction.atomic():  # one commit (one WAL flush) for the reply, its log and a hit
        _save(outcome)
        count_hit(outcome.cache)
    cache = outcome.cache
    remember(
        cache,
        status=outcome.status,
        content=outcome.content,
        fallback_used=outcome.fallback_used,
        model=outcome.model,
        simulated=outcome.simulated,
    )


def _save(outcome: TurnOutcome) -> None:
    """The reply and its request log; only inside `record_turn`'s transaction (no savepoint of its
    own: two statements fewer on every turn)."""
    usage = outcome.usage or Usage()
    hit = outcome.cache and outcome.cache.hit
    saved = Message.objects.filter(id=outcome.reply_id).update(
        content=outcome.content,
        status=outcome.status,
        model=outcome.model,
        simulated=outcome.simulated,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        cost=outcome.cost,
        latency_ms=outcome.latency_ms,
        ttft_ms=outcome.ttft_ms,
        error_kind=outcome.error_kind,
        prompt_version_id=outcome.prompt_version_id,
        citations=outcome.citations,
        tools_used=outcome.tools_used,
        updated_at=timezone.now(),
    )
    # The conversation may have been deleted mid-reply: the spend is still logged, unlinked.
    RequestLog.objects.create(
        request_id=outcome.request_id,
        user_id=outcome.user_id,
        conversation_id=outcome.conversation_id if saved else None,
        message_id=outcome.reply_id if saved else None,
        template_id=outcome.template_id,
        model_requested=outcome.model_requested,
        model_used=outcome.model if outcome.usage else "",
        provider=outcome.provider,
        simulated=outcome.simulated,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
        cost=outcome.cost,
        priced=outcome.priced,
        latency_ms=outcome.latency_ms,
        ttft_ms=outcome.ttft_ms,
        status=outcome.status,
        error_kind=outcome.error_kind,
        attempts=outcome.attempts,
        fallback_used=outcome.fallback_used,
        prompt_version_id=outcome.prompt_version_id,
        experiment_arm_id=outcome.experiment_arm_id,
        retrieval_ms=outcome.retrieval_ms,
        retrieval_error=outcome.retrieval_error,
        citations=outcome.citations,
        tools_used=outcome.tools_used,
        cache_status=outcome.cache.status if outcome.cache else "",
        cache_hit=bool(hit),
        cache_similarity=hit.similarity if hit else None,
        cache_entry_id=hit.entry_id if hit else None,
    )


async def record(outcome: TurnOutcome) -> None:
    """Save the turn, then observe it (metrics, span, log line, eval job): never raises after."""
    with stage_span("record"):
        await in_db_thread(record_turn)(outcome)
    await after_record(outcome)
