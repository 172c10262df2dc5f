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
from gateway.input_text import refused_character
from gateway.pipeline import Turn

# Daphne accepts only 1000 or 3000-4999 from applications; 4009 mirrors 1009 "message too big".
CLOSE_FRAME_TOO_LARGE = 4009


def _owns(user_id: int, conversation_id) -> bool:
    return Conversation.objects.filter(id=conversation_id, user_id=user_id).exists()


def slow_down_message(wait: int) -> str:
    return (
        f"Slow down: you are sending messages too fast. Try again in {wait} s; your draft is kept."
    )


def _message_id(payload: dict) -> int | None:
    value = payload.get("message_id")
    return int(value) if isinstance(value, str | int) and str(value).isdigit() else None


def turn_from(payload: dict, user_id: int, conversation_id) -> Turn | None:
    """The turn a send, retry, regenerate or edit frame asks for; None if it is malformed."""
    action, text = payload.get("action", "send"), payload.get("message")
    client_id = payload.get("client_id") if isinstance(payload.get("client_id"), str) else ""
    if refused_character(client_id):  # an idempotency key, never shown: unusable, so dropped
        client_id = ""
    turn = Turn(user_id, conversation_id, text="", client_id=client_id[:64])
    if action == "retry":
        turn.retry = True
    elif action == "regenerate" and (message_id := _message_id(payload)):
        turn.regenerate_of = message_id
    elif action == "edit" and isinstance(text, str) and (message_id := _message_id(payload)):
        turn.text, turn.edit_of = text, message_id
    elif action == "send" and isinstance(text, str):
        turn.text = text
    else:
        return None
    return turn


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
        if action in ("send", "retry", "regenerate", "edit") and (
            wait := await user_wait_seconds_async(scope="chat", user_id=self.scope["user"].id)
        ):
            # Sent through the error path: the page shows it and keeps the unsent draft.
            await self.send(fragments.error_html(slow_down_message(wait), "rate_limited"))
            return
        if action == "stop":
            await request_stop(self.conversation_id)
        elif action == "sync":  # the page reconnected: bring it up to date, then the live reply
            sync = in_db_thread(fragments.conversation_sync_html)
            await self.send(await sync(self.conversation_id))
            await request_resync(self.conversation_id)
        elif turn := turn_from(payload, self.scope["user"].id, self.conversation_id):
            start_generation(turn, reply_channel=self.channel_name)
        else:
            await self.send(fragments.error_html("The page sent an unknown request; reload it."))

    async def chat_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
