"""The chat websocket: a thin adapter between htmx's ws extension and the generation runner."""

from __future__ import annotations

import json

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from api.ratelimits import user_wait_seconds_async
from chat import fragments
from chat.generation import request_resync, request_stop, start_generation, view_group
from chat.models import Conversation
from gateway.db import in_db_thread
from gateway.pipeline import Turn

# Daphne accepts only 1000 or 3000-4999 from applications; 4009 mirrors 1009 "message too big".
CLOSE_FRAME_TOO_LARGE = 4009


def _owns(user_id: int, conversation_id) -> bool:
    return Conversation.objects.filter(id=conversation_id, user_id=user_id).exists()


def slow_down_message(wait: int) -> str:
    return (
        f"Slow down: you are sending messages too fast. Try again in {wait} s; your draft is kept."
    )


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope["user"]
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        # Closing before accept refuses the handshake (HTTP 403): no hint whether it exists.
        if not user.is_authenticated or not await in_db_thread(_owns)(
            user.id, self.conversation_id
        ):
            await self.close()
            return
        self.group = view_group(self.conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await request_resync(self.conversation_id)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:  # htmx sends text; binary frames come from something else
            await self.send(fragments.error_html("The page sent something unreadable; reload it."))
            return
        if len(text_data) > settings.CHAT_MAX_INPUT_CHARS * 2 + 4096:
            await self.send(fragments.error_html("That message is too large to send."))
            await self.close(code=CLOSE_FRAME_TOO_LARGE)
            return
        try:
            payload = json.loads(text_data)
            action = payload.get("action", "send")
        except (ValueError, AttributeError):
            await self.send(fragments.error_html("The page sent something unreadable; reload it."))
            return
        if action in ("send", "retry") and (
            wait := await user_wait_seconds_async(scope="chat", user_id=self.scope["user"].id)
        ):
            # Sent through the error path: the page shows it and keeps the unsent draft.
            await self.send(fragments.error_html(slow_down_message(wait)))
            return
        if action == "stop":
            await request_stop(self.conversation_id)
        elif action == "retry":
            turn = Turn(self.scope["user"].id, self.conversation_id, text="", retry=True)
            start_generation(turn, reply_channel=self.channel_name)
        elif action == "send" and isinstance(payload.get("message"), str):
            turn = Turn(
                user_id=self.scope["user"].id,
                conversation_id=self.conversation_id,
                text=payload["message"],
            )
            start_generation(turn, reply_channel=self.channel_name)
        else:
            await self.send(fragments.error_html("The page sent an unknown request; reload it."))

    async def chat_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
