"""One complete answer outside a chat turn: for shadow runs and the editor's test run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from gateway.providers import ChatRequest
from gateway.router.route import AllModelsFailed
from gateway.stages.model_call import plan_route
from prompts_admin.models import PromptTemplate


@dataclass(frozen=True)
class Answer:
    text: str
    status: str  # "complete" or "failed"
    error_kind: str
    model: str
    cost: Decimal | None
    latency_ms: int


async def answer_once(template: PromptTemplate, request: ChatRequest) -> Answer:
    """Run `request` down the template's route (retries, fallbacks, breaker) to the end."""
    started = time.monotonic()
    route = await plan_route(template, request)
    parts: list[str] = []
    status, error_kind = "complete", ""
    try:
        async for text in route.stream():
            parts.append(text)
    except AllModelsFailed:
        status, error_kind = "failed", "unavailable"
    cost, _ = route.cost()
    writer = route.served_by or route.wrote_last
    return Answer(
        text="".join(parts),
        status=status,
        error_kind=error_kind,
        model=writer.model.name if writer else request.model,
        cost=cost,
        latency_ms=int((time.monotonic() - started) * 1000),
    )
