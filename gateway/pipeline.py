"""The turn pipeline: a Turn in, typed events out. It knows nothing of websockets or HTTP.

Stages built so far (DESIGN.md numbering): 0 admission, 1 persist input, 3 prompt selection,
4 semantic cache, 5 retrieval, 6 build messages, 7 model call, 9 record. The others arrive
with their issues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from structlog.contextvars import bound_contextvars

from chat.models import Status
from chat.services import (
    AlreadySent,
    ConversationBusy,
    NothingToRetry,
    reply_assign_model,
    reply_save_partial,
)
from gateway.db import in_db_thread
from gateway.events import Accepted, Blocked, Delta, Done, Error, Event, Notice, Replace, ToolUse
from gateway.providers import endpoint_for
from gateway.router.route import AllModelsFailed, Attempt, Route
from gateway.stages.admission import admit_turn, input_problem
from gateway.stages.build_messages import build_request
from gateway.stages.cache_lookup import NOT_LOOKED_UP, answer_chunks, cache_lookup
from gateway.stages.emergency_answer import answer_from_repeat
from gateway.stages.input_guard import guard_input
from gateway.stages.model_call import plan_route
from gateway.stages.output_guard import guarded_stream, record_reply_checks
from gateway.stages.persist_input import save_input
from gateway.stages.record import TurnOutcome, record
from gateway.stages.retrieval import Retrieved, retrieve_for_turn
from gateway.stages.select_prompt import select_prompt, served_template
from gateway.stages.tool_loop import ToolLoop
from gateway.tools.toolbox import toolbox_for
from gateway.turn_memo import turn_memo
from gateway.usage import Usage
from guardrails.checks import Verdict
from observability.tracing import model_call_span, stage_span, turn_span
from prompts_admin.shadow import enqueue_shadow_run

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
ALREADY_SENT = "That message was already sent."
_OPERATOR_KINDS = {"auth", "bad_request", "not_found"}


class TurnBlocked(Exception):
    """A guardrail stopped the turn (stage 2 or 8)."""

    def __init__(self, verdict: Verdict, stage: str):
        self.verdict, self.stage = verdict, stage


@dataclass
class Turn:
    user_id: int
    conversation_id: UUID
    text: str
    request_id: UUID = field(default_factory=uuid.uuid4)
    # Answer the user's last message again (after a failed or interrupted reply).
    retry: bool = False
    # Branches (chat.services.turn_begin): a new answer to the message before this reply,
    # or `text` as a new version of this user message; both kept as siblings of the old.
    regenerate_of: int | None = None
    edit_of: int | None = None
    # The page's id for this draft: a re-send after a reconnect is not saved twice.
    client_id: str = ""
    # Set by the transport before it cancels the turn, to tell a Stop from a shutdown.
    stop_requested: bool = False


def checkpoint_interval_ms(saves_done: int, *, base_ms: int, max_ms: int) -> int:
    """How long after the last checkpoint (or the turn's start) the next one is due.

    The first comes `base_ms` after the start, so a reload soon after the first words shows
    them; then the wait doubles (2x, 4x, ...) up to `max_ms`, so a long reply costs a few
    UPDATEs instead of one every `base_ms`.
    """
    return max(base_ms, min(base_ms * 2 ** min(saves_done, 16), max_ms))


@dataclass
class ReplyProgress:
    """The growing reply: text, first-token time and when it was last checkpointed."""

    reply_id: int
    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    saved_at: float = field(default_factory=time.monotonic)
    saves: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, text: str) -> None:
        self.first_token_at = self.first_token_at or time.monotonic()
        self.parts.append(text)

    async def checkpoint_if_due(self) -> None:
        due_ms = checkpoint_interval_ms(
            self.saves,
            base_ms=settings.CHAT_SAVE_INTERVAL_MS,
            max_ms=settings.CHAT_SAVE_INTERVAL_MAX_MS,
        )
        if (time.monotonic() - self.saved_at) * 1000 >= due_ms:
            self.saved_at, self.saves = time.monotonic(), self.saves + 1
            await in_db_thread(reply_save_partial)(reply_id=self.reply_id, content=self.text)

    def elapsed_ms(self, until: float | None = None) -> int:
        return int(((until or time.monotonic()) - self.started) * 1000)

    def ttft_ms(self) -> int | None:
        return self.elapsed_ms(self.first_token_at) if self.first_token_at else None


async def run_turn(turn: Turn) -> AsyncIterator[Event]:
    """The turn, with its request id on every log line and a span around it all."""
    request_id = str(turn.request_id)
    with (
        bound_contextvars(request_id=request_id),
        turn_span(request_id=request_id, user_id=turn.user_id),
        turn_memo(),
    ):
        async with contextlib.aclosing(_run_turn(turn)) as events:
            async for event in events:
                yield event


async def _run_turn(turn: Turn) -> AsyncIterator[Event]:
    answer_again = turn.retry or turn.regenerate_of is not None
    if not answer_again and (problem := input_problem(turn.text)):
        yield Error("invalid_input", problem)
        return
    with stage_span("admission"):
        admission = await admit_turn(
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            text=None if answer_again else turn.text,
        )
    if admission.refusal:
        yield Error(admission.refusal.kind, admission.refusal.message)
        return
    try:
        with stage_span("persist_input"):
            saved = await save_input(
                user_id=turn.user_id,
                conversation_id=turn.conversation_id,
                text=None if answer_again else turn.text,
                client_id=turn.client_id,
                regenerate_of=turn.regenerate_of,
                edit_of=turn.edit_of,
            )
    except ConversationBusy:
        yield Error("busy", BUSY)
        return
    except AlreadySent:
        yield Error("already_sent", ALREADY_SENT)
        return
    except NothingToRetry:
        yield Error("invalid_input", "There is no message to answer again.")
        return

    with stage_span("prompt_selection"):
        choice = await select_prompt(template=saved.conversation.template, user_id=turn.user_id)
        template = served_template(saved.conversation.template, choice)
    if admission.repeat is not None:  # emergency mode: an earlier answer, no model call
        # Still judged first: a message the guardrails block gets no answer, cached or not.
        guard = await _judge_input(turn, template, saved.user_message_id)
        async for event in answer_from_repeat(turn, saved, template, admission, guard.verdict):
            yield event
        return
    template = admission.applied_to(template)  # over budget: the cheaper model
    endpoint = endpoint_for(template.model.provider)
    await in_db_thread(reply_assign_model)(
        reply_id=saved.reply_id, model=template.model.name, simulated=endpoint.simulated
    )
    yield Accepted(
        saved.user_message_id,
        saved.reply_id,
        template.model.name,
        endpoint.simulated,
        retry=answer_again,
    )
    if admission.notice:
        yield Notice(admission.notice)

    progress = ReplyProgress(reply_id=saved.reply_id)
    cache = NOT_LOOKED_UP
    route: Route | None = None
    retrieved = Retrieved()
    tools = ToolLoop()
    status, error_kind = Status.COMPLETE, ""

    def outcome() -> TurnOutcome:
        writer = route and (route.served_by or route.wrote_last)
        served = writer.model if writer else template.model
        cost, priced = route.cost() if route else (None, template.model.is_priced)
        hit = cache.hit  # an answer from the cache: no model was called, and it cost nothing
        if hit:
            cost, priced = Decimal(0), True
        return TurnOutcome.of_turn(
            turn,
            saved,
            template,
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
            error_kind=error_kind or tools.error_kind,  # a stopped tool loop "completes"
            attempts=[a.as_json() for a in route.attempts] if route else [],
            fallback_used=bool(route and route.fallback_used),
            prompt_version_id=choice.version.pk if choice.version else None,
            experiment_arm_id=choice.arm.pk if choice.arm else None,
            retrieval_ms=retrieved.ms,
            retrieval_error=retrieved.error,
            citations=[c.as_json() for c in retrieved.citations],
            tools_used=tools.log_entries(),
            cache=replace(cache, no_store=tools.no_store()) if tools.no_store() else cache,
        )

    ids = {"request_id": turn.request_id, "user_id": turn.user_id, "template_id": template.id}
    reply_guard, blocked = None, None
    try:
        guard = await _judge_input(turn, template, saved.user_message_id)
        if guard.verdict.blocked:  # the message stays saved, marked blocked, and is never sent
            raise TurnBlocked(guard.verdict, "input")
        reply_guard = guard.reply_guard()
        # Asked to answer again (retry, regenerate): the user wants a fresh reply, not the cache's.
        with stage_span("cache"):
            cache = (
                NOT_LOOKED_UP
                if answer_again
                else await cache_lookup(
                    template=template,
                    user_id=turn.user_id,
                    conversation_id=turn.conversation_id,
                    reply_id=saved.reply_id,
                    version=str(choice.version.pk) if choice.version else None,
                    system_prompt=choice.system_prompt,
                )
            )
        if guard.verdict.pii_types:  # someone's personal data must never answer someone else
            cache = replace(cache, no_store="personal_data")
        if cache.hit:  # answered before: no retrieval, no model call, cost 0
            for chunk in answer_chunks(cache.hit.answer):
                progress.add(chunk)
                yield Delta(chunk)
        else:
            with stage_span("retrieval"):
                retrieved = await retrieve_for_turn(
                    template_id=template.id,
                    conversation_id=turn.conversation_id,
                    question=turn.text,
                )
            with stage_span("build_messages"):
                request, retrieved = await build_request(
                    template=template,
                    conversation_id=turn.conversation_id,
                    reply_id=saved.reply_id,
                    system=choice.system_prompt,
                    retrieved=retrieved,
                    reserved_tokens=guard.reserved_tokens(template.model.name),
                )
            for citation in retrieved.citations:  # the passages the request carries
                yield citation
            with stage_span("tools"):
                tools = ToolLoop(await toolbox_for(template.tools))
            with model_call_span() as call:
                route = call.route = await plan_route(template, tools.offer(guard.protect(request)))
                async for text in guarded_stream(tools.run(route), reply_guard):
                    if isinstance(text, ToolUse):
                        yield text
                        continue
                    progress.add(text)
                    yield Delta(text)
                    await progress.checkpoint_if_due()
            if reply_guard.blocked:  # what was shown is retracted before the turn ends
                yield Replace(reply_guard.verdict.notice)
                raise TurnBlocked(reply_guard.verdict, "output")
    except TurnBlocked as stop:
        blocked, status, error_kind = stop, Status.BLOCKED, stop.verdict.reason
        progress.parts = [stop.verdict.notice]
    except (asyncio.CancelledError, GeneratorExit):
        # Cancelled (Stop, disconnect of the process) or closed by the caller mid-reply.
        status = Status.CANCELLED if turn.stop_requested else Status.INTERRUPTED
        error_kind = "" if turn.stop_requested else "interrupted"
        # Shielded: the partial reply must be saved even though this task is being cancelled.
        await asyncio.shield(record(outcome()))
        raise
    except AllModelsFailed:
        # Text already shown stays, marked interrupted; otherwise the turn failed outright.
        if tail := reply_guard.finish():  # what was held back passed: show and keep it
            progress.add(tail)
            yield Delta(tail)
        status = Status.INTERRUPTED if progress.text else Status.FAILED
        error_kind = failure_kind(route.attempts)
        log_route_failure(turn, route)
    except Exception:
        status, error_kind = Status.FAILED, "internal"
        log.exception("turn %s failed", turn.request_id)

    if route is not None:
        report_operator_problems(route)
    if reply_guard is not None:
        with stage_span("output_guardrails"):
            await record_reply_checks(reply_guard, reply_id=saved.reply_id, **ids)
    final = outcome()
    await record(final)
    if choice.shadow_arm and status == Status.COMPLETE:
        await enqueue_shadow_run(arm_id=choice.shadow_arm.pk, request_id=turn.request_id)
    if blocked:
        yield Blocked(blocked.verdict.reason, blocked.verdict.notice, blocked.stage)
    elif status in (Status.FAILED, Status.INTERRUPTED):
        yield Error(error_kind, user_message_for(error_kind, partial=bool(progress.text)))
    else:
        yield Done(
            usage=final.usage or Usage(),
            cost=final.cost,
            model=final.model,
            cache_hit=bool(cache.hit),
            timings={
                "ttft_ms": final.ttft_ms or 0,
                "latency_ms": final.latency_ms,
                **({"retrieval_ms": final.retrieval_ms} if final.retrieval_ms is not None else {}),
            },
        )


async def _judge_input(turn: Turn, template, user_message_id: int):
    """Stage 2 on the saved message: injection score, PII, and the canary for the reply."""
    with stage_span("input_guardrails"):
        return await guard_input(
            template=template,
            user_message_id=user_message_id,
            request_id=turn.request_id,
            user_id=turn.user_id,
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
