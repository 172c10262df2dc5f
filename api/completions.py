"""An API call as a chat turn: resolve `model`, save the client's messages, run the pipeline.

Each call gets its own conversation (source=api) holding the client's earlier messages, so the
pipeline's ordinary history builder sees them and every stage applies unchanged. The client's
last message is the turn's input, saved by the pipeline's own stage 1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from api.errors import ApiError
from api.requests import ChatMessage
from chat.models import Conversation, Message, Role, Source
from gateway.events import Event
from gateway.models import LanguageModel
from gateway.pipeline import Turn, run_turn
from prompts_admin.models import PromptTemplate

_running: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones
_END = object()


def template_for_model(model: str) -> PromptTemplate:
    """`model` names an assistant (slug, then name) or a configured model an assistant uses."""
    templates = PromptTemplate.objects.select_related("model")
    template = templates.filter(slug=model).first() or templates.filter(name=model).first()
    if template is None and LanguageModel.objects.filter(name=model, is_active=True).exists():
        template = templates.filter(model__name=model).order_by("-is_default", "name").first()
    if template is None:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return template


def available_models() -> list[dict]:
    """What `model` may name: every assistant, and every active model an assistant uses."""
    templates = list(PromptTemplate.objects.select_related("model").order_by("slug"))
    entries = {t.slug: (t.created_at, "switchboard") for t in templates}
    for template in templates:
        if template.model.is_active:
            entries.setdefault(template.model.name, (template.created_at, template.model.provider))
    return [
        {"id": name, "object": "model", "created": int(created.timestamp()), "owned_by": owner}
        for name, (created, owner) in sorted(entries.items())
    ]


@transaction.atomic
def conversation_from_messages(
    *, user: AbstractBaseUser, template: PromptTemplate, earlier: list[ChatMessage]
) -> Conversation:
    conversation = Conversation.objects.create(user=user, template=template, source=Source.API)
    parent = None
    for message in earlier:  # one branch, oldest first: the history the pipeline will follow
        parent = Message.objects.create(
            conversation=conversation, role=Role(message.role), content=message.text, parent=parent
        )
    if parent is not None:
        Conversation.objects.filter(id=conversation.id).update(current_leaf=parent)
        conversation.current_leaf = parent
    return conversation


async def turn_events(turn: Turn) -> AsyncIterator[Event]:
    """The turn's events; if the caller goes away (client disconnect), the turn is stopped.

    The pipeline runs as its own task so that a cancelled request cancels it like Stop does:
    the upstream stream is closed and the partial reply saved as cancelled.
    """
    events: asyncio.Queue = asyncio.Queue()

    async def produce() -> None:
        try:
            async with contextlib.aclosing(run_turn(turn)) as pipeline:
                async for event in pipeline:
                    events.put_nowait(event)
        finally:
            events.put_nowait(_END)

    task = asyncio.create_task(produce())
    _running.add(task)
    task.add_done_callback(_running.discard)
    try:
        while (event := await events.get()) is not _END:
            yield event
        await task  # the pipeline's own failure, if it had one, is the caller's to report
    finally:
        if not task.done():
            turn.stop_requested = True
            task.cancel()
            await asyncio.wait([task])
