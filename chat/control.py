"""Requests to running generations (stop, resync) from any process, over Redis pub/sub.

Not through the channel layer: a generation that listens on its own layer channel shares the
process's single channels_redis receive loop with every consumer, and cancelling that listener
when the reply ends lost the message it had just read (a page missed the final frame).
One pattern subscription per process routes each request to the generation running here.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from uuid import UUID

import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "sb:ctl:"
Handler = Callable[[str], Awaitable[None]]


class ControlBus:
    def __init__(self) -> None:
        self.handlers: dict[UUID, Handler] = {}
        self.listener: asyncio.Task | None = None
        self.client = aioredis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=30
        )

    def register(self, conversation_id: UUID, handler: Handler) -> None:
        self.handlers[conversation_id] = handler
        if self.listener is None or self.listener.done():
            self.listener = asyncio.create_task(self._listen())

    def unregister(self, conversation_id: UUID, handler: Handler) -> None:
        if self.handlers.get(conversation_id) is handler:
            del self.handlers[conversation_id]

    async def request(self, conversation_id: UUID, action: str) -> None:
        """Deliver `action` to the conversation's generation, wherever it runs."""
        if handler := self.handlers.get(conversation_id):
            await handler(action)  # running here: no round trip, works even without Redis
            return
        try:
            await self.client.publish(f"{CHANNEL_PREFIX}{conversation_id.hex}", action)
        except aioredis.RedisError:
            log.warning(
                "control request %s for %s not sent: Redis unavailable", action, conversation_id
            )

    async def _listen(self) -> None:
        while self.handlers:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                    async for message in pubsub.listen():
                        await self._dispatch(message)
            except aioredis.RedisError:
                log.warning("control bus lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    async def _dispatch(self, message: dict) -> None:
        if message.get("type") != "pmessage":
            return
        conversation = UUID(hex=message["channel"].decode().removeprefix(CHANNEL_PREFIX))
        if handler := self.handlers.get(conversation):
            await handler(message["data"].decode())


_buses: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def control_bus() -> ControlBus:
    """The bus of the running event loop (Redis connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _buses:
        _buses[loop] = ControlBus()
    return _buses[loop]
