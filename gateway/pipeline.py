"""The turn pipeline: a Turn in, typed events out. It knows nothing of websockets or HTTP.

Stages built so far (DESIGN.md numbering): 0 admission, 1 persist input, 3 prompt selection,
6 build messages, 7 model call, 9 record. The others arrive with their issues.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

from channels.db import database_sync_to_async
from django.conf import settings

from chat.models import Status
from chat.services import ConversationBusy, reply_assign_model, reply_save_partial
from gateway.events import Accepted, Delta, Done, Error, Event
from gateway.pricing import cost_of
from gateway.providers import ProviderError, endpoint_for, stream_reply
from gateway.stages.admission import input_problem
from gateway.stages.build_messages import build_request
from gateway.stages.persist_input import save_input
from gateway.stages.record import TurnOutcome, record
from gateway.usage import Usage

log = logging.getLogger(__name__)

UNAVAILABLE = "The model provider is unavailable right now. Your message is saved; try again soon."
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
    usage: Usage | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, text: str) -> None:
        self.first_token_at = self.first_token_at or time.monotonic()
        self.parts.append(text)

    async def checkpoint_if_due(self) -> None:
        if (time.monotonic() - self.saved_at) * 1000 >= settings.CHAT_SAVE_INTERVAL_MS:
            self.saved_at = time.monotonic()
            await database_sync_to_async(reply_save_partial)(
                reply_id=self.reply_id, content=self.text
            )

    def elapsed_ms(self, until: float | None = None) -> int:
        return int(((until or time.monotonic()) - self.started) * 1000)


async def run_turn(turn: Turn) -> AsyncIterator[Event]:
    if problem := input_problem(turn.text):
        yield Error("invalid_input", problem)
        return
    try:
        saved = await save_input(
            user_id=turn.user_id, conversation_id=turn.conversation_id, text=turn.text
        )
    except ConversationBusy:
        yield Error("busy", BUSY)
        return

    template = saved.conversation.template  # prompt selection: the conversation's assistant
    endpoint = endpoint_for(template.model.provider)
    await database_sync_to_async(reply_assign_model)(
        reply_id=saved.reply_id, model=template.model.name, simulated=endpoint.simulated
    )
    yield Accepted(saved.user_message_id, saved.reply_id, template.model.name, endpoint.simulated)

    progress = ReplyProgress(reply_id=saved.reply_id)
    status, error_kind = Status.COMPLETE, ""

    def outcome() -> TurnOutcome:
        has_usage = progress.usage is not None
        return TurnOutcome(
            request_id=turn.request_id,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            template_id=template.id,
            reply_id=saved.reply_id,
            model=template.model.name,
            provider=endpoint.provider,
            simulated=endpoint.simulated,
            content=progress.text,
            status=status,
            usage=progress.usage,
            cost=cost_of(progress.usage, template.model) if has_usage else None,
            priced=template.model.is_priced,
            latency_ms=progress.elapsed_ms(),
            ttft_ms=progress.elapsed_ms(progress.first_token_at)
            if progress.first_token_at
            else None,
            error_kind=error_kind,
        )

    try:
        request = await build_request(
            template=template, conversation_id=turn.conversation_id, reply_id=saved.reply_id
        )
        async for chunk in stream_reply(endpoint, request):
            if chunk.text:
                progress.add(chunk.text)
                yield Delta(chunk.text)
                await progress.checkpoint_if_due()
            elif chunk.usage:
                progress.usage = chunk.usage
    except (asyncio.CancelledError, GeneratorExit):
        # Cancelled (Stop, disconnect of the process) or closed by the caller mid-reply.
        status = Status.CANCELLED if turn.stop_requested else Status.INTERRUPTED
        error_kind = "" if turn.stop_requested else "interrupted"
        # Shielded: the partial reply must be saved even though this task is being cancelled.
        await asyncio.shield(record(outcome()))
        raise
    except ProviderError as exc:
        status, error_kind = Status.FAILED, exc.kind
        log_provider_error(turn, exc)
    except Exception:
        status, error_kind = Status.FAILED, "internal"
        log.exception("turn %s failed", turn.request_id)

    final = outcome()
    await record(final)
    if status == Status.FAILED:
        yield Error(error_kind, user_message_for(error_kind))
    else:
        yield Done(
            usage=final.usage or Usage(),
            cost=final.cost,
            model=final.model,
            timings={"ttft_ms": final.ttft_ms or 0, "latency_ms": final.latency_ms},
        )


def user_message_for(kind: str) -> str:
    if kind in _OPERATOR_KINDS:
        return MISCONFIGURED
    return INTERNAL if kind == "internal" else UNAVAILABLE


def log_provider_error(turn: Turn, exc: ProviderError) -> None:
    # A bad key or model name is the operator's problem: loud in the logs, never a user's trace.
    level = logging.ERROR if exc.kind in _OPERATOR_KINDS else logging.WARNING
    log.log(level, "turn %s: provider error %s (status %s)", turn.request_id, exc.kind, exc.status)
