"""Stage 8: the reply stream through the reply guard's hold-back window.

Yields only text that passed; stops the model stream as soon as a blocking check fires (the
caller then replaces what was shown and records why).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

from gateway.db import in_db_thread
from guardrails.checks import Verdict
from guardrails.metrics import count_verdict
from guardrails.models import Stage
from guardrails.services import event_record
from guardrails.streaming import ReplyGuard


async def guarded_stream(chunks: AsyncIterator, guard: ReplyGuard) -> AsyncIterator:
    """Text through the guard; anything else in the stream (a tool use) passes as it comes."""
    async with contextlib.aclosing(chunks):
        async for text in chunks:
            if not isinstance(text, str):
                yield text
                continue
            if released := guard.feed(text):
                yield released
            if guard.blocked:
                return  # closing `chunks` ends the upstream request too
    if tail := guard.finish():
        yield tail


def _record(guard: ReplyGuard, *, request_id: UUID, user_id: int, template_id: int, reply_id: int):
    fired = [*guard.flags, *([guard.verdict] if guard.verdict else [])]
    for verdict in fired or [Verdict()]:
        count_verdict(Stage.OUTPUT, verdict)
        if verdict.fired:
            event_record(
                stage=Stage.OUTPUT,
                verdict=verdict,
                excerpt=guard.excerpt,
                pii_types=verdict.pii_types,
                request_id=request_id,
                user_id=user_id,
                template_id=template_id,
                message_id=reply_id,
            )


async def record_reply_checks(guard: ReplyGuard, **ids) -> None:
    await in_db_thread(_record)(guard, **ids)
