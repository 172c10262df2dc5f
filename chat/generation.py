"""Runs a turn as its own task and broadcasts it to every page showing the conversation.

The generation outlives the websocket that started it: a reload or a dropped connection does
not cancel the reply. Pages join the conversation's view group on the channel layer; stop and
resync requests reach the generation through the control bus, from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from channels.layers import get_channel_layer
from django.conf import settings

from chat import fragments, selectors
from chat.control import control_bus
from chat.models import Message, Status
from chat.streaming import StreamingReply
from chat.titles import enqueue_title
from gateway.cache.selectors import with_cache_flag
from gateway.db import in_db_thread
from gateway.events import Accepted, Blocked, Delta, Error, Notice, Replace, ToolUse
from gateway.pipeline import Turn, run_turn

log = logging.getLogger(__name__)

_running: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones
_END = object()

STOP = "stop"
RESYNC = "resync"


def view_group(conversation_id: UUID) -> str:
    return f"conv.{conversation_id.hex}"


def start_generation(turn: Turn, *, reply_channel: str) -> asyncio.Task:
    task = asyncio.create_task(Generation(turn, reply_channel).run())
    _running.add(task)
    task.add_done_callback(_forget)
    return task


def _forget(task: asyncio.Task) -> None:
    _running.discard(task)
    if not task.cancelled() and (error := task.exception()):
        log.error("generation failed", exc_info=error)


async def request_stop(conversation_id: UUID) -> None:
    await control_bus().request(conversation_id, STOP)


async def request_resync(conversation_id: UUID) -> None:
    await control_bus().request(conversation_id, RESYNC)


def _load_messages(*ids: int) -> list[Message]:
    by_id = with_cache_flag(Message.objects.select_related("conversation")).in_bulk(ids)
    return [by_id[i] for i in ids]


def _transcript(conversation) -> str:
    return fragments.transcript_html(selectors.active_path(conversation))


class Generation:
    def __init__(self, turn: Turn, reply_channel: str):
        self.turn = turn
        self.reply_channel = reply_channel
        self.layer = get_channel_layer()
        self.events: asyncio.Queue = asyncio.Queue()
        self.reply: Message | None = None
        self.streamed = StreamingReply()
        self.producer: asyncio.Task | None = None
        self.user_message_id: int | None = None

    async def run(self) -> None:
        self.producer = asyncio.create_task(self._produce())
        try:
            await self._broadcast_events()
        finally:
            self.producer.cancel()
            control_bus().unregister(self.turn.conversation_id, self.on_request)

    async def on_request(self, action: str) -> None:
        if action == STOP and self.producer:
            self.turn.stop_requested = True
            self.producer.cancel()
        elif action == RESYNC and self.reply:
            await self._publish(fragments.reply_snapshot_html(self.reply, self.streamed))

    async def _produce(self) -> None:
        try:
            async with contextlib.aclosing(run_turn(self.turn)) as events:
                async for event in events:
                    self.events.put_nowait(event)
        finally:
            self.events.put_nowait(_END)

    async def _broadcast_events(self) -> None:
        window = settings.CHAT_STREAM_WINDOW_MS / 1000
        first = True
        while (event := await self.events.get()) is not _END:
            if isinstance(event, Delta):
                # The first words go out at once: batching is for throughput, and waiting out
                # a window before them only added its length to the time to first token.
                text, event = await self._coalesce(event.text, 0 if first else window)
                first = False
                new_blocks, tail = self.streamed.feed(text)
                await self._publish(fragments.reply_delta_html(self.reply.id, new_blocks, tail))
                if event is _END:
                    break
                if event is None:
                    continue
            await self._handle(event)
        await self._finish()

    async def _coalesce(self, text: str, window: float) -> tuple[str, object | None]:
        """Merge the deltas that arrive within `window`: one frame per window, not per token."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        parts = [text]
        while (remaining := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(self.events.get(), remaining)
            except TimeoutError:
                break
            if not isinstance(event, Delta):
                return "".join(parts), event
            parts.append(event.text)
        return "".join(parts), None

    async def _handle(self, event) -> None:
        if isinstance(event, Accepted):
            user_message, self.reply = await in_db_thread(_load_messages)(
                event.user_message_id, event.reply_message_id
            )
            self.user_message_id = user_message.id
            # Only an accepted turn owns the conversation's reply: register it now.
            control_bus().register(self.turn.conversation_id, self.on_request)
            conversation = user_message.conversation
            if event.retry or self.turn.edit_of:  # a new branch: show the whole new path
                appended = await in_db_thread(_transcript)(conversation)
            else:
                ack = self.turn.client_id or str(user_message.id)
                await self._tell_sender(fragments.composer_ack_html(ack))
                appended = fragments.appended_messages_html(user_message, self.reply)
            await self._publish(
                fragments.turn_state_html("streaming")
                + appended
                + fragments.conversation_title_html(conversation.id, conversation.title)
            )
        elif isinstance(event, Error) and event.kind == "already_sent":
            await self._tell_sender(fragments.composer_ack_html(self.turn.client_id))
        elif isinstance(event, Error):
            await self._tell_sender(fragments.error_html(event.message, event.kind))
        elif isinstance(event, Replace):  # the output guard retracted what was shown
            self.streamed = StreamingReply()
            self.streamed.feed(event.text)
            await self._publish(fragments.reply_replaced_html(self.reply.id, event.text))
        elif isinstance(event, Blocked):
            await self._tell_sender(fragments.error_html(event.message, "blocked"))
            if event.stage == "input":  # show the user's message as saved but not sent
                (user_message,) = await in_db_thread(_load_messages)(self.user_message_id)
                await self._publish(fragments.message_html(user_message, oob=True))
                if self.turn.text and self.turn.edit_of is None:  # sent from the composer
                    await self._tell_sender(fragments.composer_restore_html(self.turn.text))
        elif isinstance(event, Notice):
            await self._tell_sender(fragments.notice_html(event.text))
        elif isinstance(event, ToolUse) and self.reply is not None:
            await self._publish(fragments.tool_use_html(self.reply.id, event.as_json()))

    async def _finish(self) -> None:
        """Replace the streamed reply with its saved, canonical rendering."""
        if self.reply is None:
            return
        saved = await in_db_thread(selectors.message_with_branch)(self.reply.id)
        # A page (re)connecting from now on must get the saved reply, not the streaming one.
        self.reply = saved
        await self._publish(
            fragments.message_html(saved, oob=True) + fragments.turn_state_html("idle")
        )
        if saved.status == Status.COMPLETE and not saved.conversation.title:
            await in_db_thread(enqueue_title)(saved.conversation_id)

    async def _publish(self, html: str) -> None:
        await self.layer.group_send(
            view_group(self.turn.conversation_id), {"type": "chat.fragment", "html": html}
        )

    async def _tell_sender(self, html: str) -> None:
        await self.layer.send(self.reply_channel, {"type": "chat.fragment", "html": html})
