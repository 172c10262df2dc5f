"""What observability does with a recorded turn: metrics, its span, a log line, an eval job."""

from __future__ import annotations

import asyncio

import structlog
from opentelemetry import trace

from observability.enqueue import enqueue
from observability.evals import ANSWERED
from observability.logs import loggable_text
from observability.metrics import observe_turn
from observability.tracing import annotate_turn

log = structlog.get_logger("observability.turns")


async def after_record(outcome) -> None:
    """Called by the record stage once the reply and request log are saved. Never raises."""
    try:
        observe_turn(outcome, template=outcome.template)
        annotate_turn(trace.get_current_span(), outcome)
        log.info(
            "turn recorded",
            status=outcome.status,
            model=outcome.model,
            fallback_used=outcome.fallback_used,
            latency_ms=outcome.latency_ms,
            ttft_ms=outcome.ttft_ms,
            cost=str(outcome.cost) if outcome.cost is not None else None,
            error_kind=outcome.error_kind or None,
            reply=loggable_text(outcome.content),
        )
    except Exception:  # observability must never cost a user their turn
        log.exception("observing the turn failed")
    if outcome.status in ANSWERED:
        await enqueue_evaluation(str(outcome.request_id))


async def enqueue_evaluation(request_id: str) -> bool:
    """Off the event loop: a dead broker costs one connect timeout, in a thread."""
    from observability.tasks import evaluate_turn

    return await asyncio.to_thread(enqueue, evaluate_turn, request_id)
