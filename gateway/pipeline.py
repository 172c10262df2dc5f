"""The turn pipeline: a Turn in, typed events out. It knows nothing of websockets or HTTP.

Stages built so far (DESIGN.md numbering): 0 admission, 1 persist input, 3 prompt selection,
4 semantic cache, 6 build messages, 7 model call, 9 record. The others arrive with their issues.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.conf import settings

from chat.models import Status
from chat.services import (
    ConversationBusy,
    NothingToRetry,
    reply_assign_model,
    reply_save_partial,
)
from gateway.db import in_db_thread
from gateway.events import Accepted, Delta, Done, Error, Event
from gateway.providers import endpoint_for
from gateway.router.route import AllModelsFailed, Attempt, Route
from gateway.stages.admission import input_problem
from gateway.stages.build_messages import build_request
from gateway.stages.cache_lookup import NOT_LOOKED_UP, answer_chunks, cache_lookup
from gateway.stages.model_call import plan_route
from gateway.stages.persist_input import save_input
from gateway.stages.record import TurnOutcome, record
from gateway.usage import Usage

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "Every model this assistant can use is unavailable right now. Your message is saved; "
    "try again in a minute."
)
CUT_OFF = (
    "The reply was cut off and no other model could finish it. What arrived is saved; "
    "press Retry to ask again."
)
MISCONFIGURED = "The assistant is misconfigured right now. Your message is saved; we are on it."
INTERNAL = "Something went wrong while writing the reply. Your message is saved; try again."
BUSY = "A reply is still being written in this conversation. Wait for it, or press Stop."
_OPERATOR_KINDS = {"auth", "bad_request", "not_found"}


@dataclass
class Turn:
    user_id: int
    conversation_id: UUID
    text: str
    request_id: UUID = field(default_factory=uuid.uuid4)
    # Answer the user's last message again (after a failed or interrupted reply).
    retry: bool = False
    # Set by the transport before it cancels the turn, to tell a Stop from a shutdown.
    stop_requested: bool = False


@dataclass
class ReplyProgress:
    """The growing reply: text, first-token time and when it was last checkpointed."""

    reply_id: int
    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    saved_at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, text: str) -> None:
        self.first_token_at = self.first_token_at or time.monotonic()
        self.parts.append(text)

    async def checkpoint_if_due(self) -> None:
        if (time.monotonic() - self.saved_at) * 1000 >= settings.CHAT_SAVE_INTERVAL_MS:
            self.saved_at = time.monotonic()
            await in_db_thread(reply_save_partial)(reply_id=self.reply_id, content=self.text)

    def elapsed_ms(self, until: float | None = None) -> int:
        return int(((until or time.monotonic()) - self.started) * 1000)

    def ttft_ms(self) -> int | None:
        return self.elapsed_ms(self.first_token_at) if self.first_token_at else None


async def run_turn(turn: Turn) -> AsyncIterator[Event]:
    if not turn.retry and (problem := input_problem(turn.text)):
        yield Error("invalid_input", problem)
        return
    try:
        saved = await save_input(
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            text=None if turn.retry else turn.text,
        )
    except ConversationBusy:
        yield Error("busy", BUSY)
        return
    except NothingToRetry:
        yield Error("invalid_input", "There is no message to answer again.")
        return

    template = saved.conversation.template  # prompt selection: the conversation's assistant
    endpoint = endpoint_for(template.model.provider)
    await in_db_thread(reply_assign_model)(
        reply_id=saved.reply_id, model=template.model.name, simulated=endpoint.simulated
    )
    yield Accepted(
        saved.user_message_id,
        saved.reply_id,
        template.model.name,
        endpoint.simulated,
        retry=turn.retry,
    )

    progress = ReplyProgress(reply_id=saved.reply_id)
    cache = NOT_LOOKED_UP
    route: Route | None = None
    status, error_kind = Status.COMPLETE, ""

    def outcome() -> TurnOutcome:
        writer = route and (route.served_by or route.wrote_last)
        served = writer.model if writer else template.model
        cost, priced = route.cost() if route else (None, template.model.is_priced)
        hit = cache.hit  # an answer from the cache: no model was called, and it cost nothing
        if hit:
            cost, priced = Decimal(0), True
        return TurnOutcome(
            request_id=turn.request_id,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            template_id=template.id,
            reply_id=saved.reply_id,
            model_requested=template.model.name,
            model=hit.model if hit else served.name,
            provider="" if hit else served.provider,
            simulated=hit.simulated if hit else endpoint.simulated,
            content=progress.text,
            status=status,
            usage=route.usage if route else None,
            cost=cost,
            priced=priced,
            latency_ms=progress.elapsed_ms(),
            ttft_ms=progress.ttft_ms(),
            error_kind=error_kind,
            attempts=[a.as_json() for a in route.attempts] if route else [],
            fallback_used=bool(route and route.fallback_used),
            cache=cache,
        )

    try:
        cache = await cache_lookup(
            template=template,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            reply_id=saved.reply_id,
        )
        if cache.hit:
            for chunk in answer_chunks(cache.hit.answer):
                progress.add(chunk)
                yield Delta(chunk)
        else:
            request = await build_request(
                template=template, conversation_id=turn.conversation_id, reply_id=saved.reply_id
            )
            route = await plan_route(template, request)
            async for text in route.stream():
                progress.add(text)
                yield Delta(text)
                await progress.checkpoint_if_due()
    except (asyncio.CancelledError, GeneratorExit):
        # Cancelled (Stop, disconnect of the process) or closed by the caller mid-reply.
        status = Status.CANCELLED if turn.stop_requested else Status.INTERRUPTED
        error_kind = "" if turn.stop_requested else "interrupted"
        # Shielded: the partial reply must be saved even though this task is being cancelled.
        await asyncio.shield(record(outcome()))
        raise
    except AllModelsFailed:
        # Text already shown stays, marked interrupted; otherwise the turn failed outright.
        status = Status.INTERRUPTED if progress.text else Status.FAILED
        error_kind = failure_kind(route.attempts)
        log_route_failure(turn, route)
    except Exception:
        status, error_kind = Status.FAILED, "internal"
        log.exception("turn %s failed", turn.request_id)

    if route is not None:
        report_operator_problems(route)
    final = outcome()
    await record(final)
    if status in (Status.FAILED, Status.INTERRUPTED):
        yield Error(error_kind, user_message_for(error_kind, partial=bool(progress.text)))
    else:
        yield Done(
            usage=final.usage or Usage(),
            cost=final.cost,
            model=final.model,
            cache_hit=bool(cache.hit),
            timings={"ttft_ms": final.ttft_ms or 0, "latency_ms": final.latency_ms},
        )


def failure_kind(attempts: list[Attempt]) -> str:
    """Why every model failed: an operator problem if that is all they hit, else unavailable."""
    kinds = {a.outcome for a in attempts} - {"ok", "breaker_open", "cancelled"}
    if kinds and kinds <= _OPERATOR_KINDS:
        return sorted(kinds)[0]
    return "unavailable"


def user_message_for(kind: str, *, partial: bool = False) -> str:
    if kind in _OPERATOR_KINDS:
        return MISCONFIGURED
    if kind == "internal":
        return INTERNAL
    return CUT_OFF if partial else UNAVAILABLE


_operator_problems_reported: set[tuple[str, str, str]] = set()


def log_route_failure(turn: Turn, route: Route) -> None:
    summary = ", ".join(f"{a.model}:{a.outcome}" for a in route.attempts)
    log.warning("turn %s: every model failed (%s)", turn.request_id, summary)


def report_operator_problems(route: Route) -> None:
    """A bad key or model name is the operator's problem: said once, loudly, not every turn."""
    for attempt in route.attempts:
        problem = (attempt.provider, attempt.model, attempt.outcome)
        if attempt.outcome in _OPERATOR_KINDS and problem not in _operator_problems_reported:
            _operator_problems_reported.add(problem)
            log.error(
                "%s refused model %s (%s, HTTP %s): check its API key and model name",
                attempt.provider,
                attempt.model,
                attempt.outcome,
                attempt.status,
            )
