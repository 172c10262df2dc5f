"""The channel layer keeps reading while no page is connected, so the next page's first frames
are not held back by the library's idle nap."""

from __future__ import annotations

import asyncio

import redis
from channels.layers import get_channel_layer
from django.conf import settings


def _subscribed(channel: str) -> bool:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return bool(client.pubsub_channels(channel))
    finally:
        client.close()


def test_a_quiet_process_stays_subscribed_and_a_new_page_gets_its_messages():
    layer = get_channel_layer()

    async def page_comes_and_goes() -> tuple[dict, bool, bool]:
        first = await layer.new_channel()
        await layer.send(first, {"type": "chat.fragment", "html": "one"})
        await layer.receive(first)
        # The only page closes: the layer has nothing of its own subscribed any more...
        shard = layer._get_layer()._get_shard(first)
        await shard.unsubscribe(first)
        keepalive = layer._get_layer().listening
        while_quiet = await asyncio.to_thread(_subscribed, keepalive)
        # ...and the next page's message arrives on the same, still-reading connection.
        second = await layer.new_channel()
        await layer.send(second, {"type": "chat.fragment", "html": "two"})
        message = await asyncio.wait_for(layer.receive(second), timeout=5)
        await layer.flush()
        after_flush = await asyncio.to_thread(_subscribed, keepalive)
        return message, while_quiet, after_flush

    message, while_quiet, after_flush = asyncio.run(page_comes_and_goes())
    assert message["html"] == "two"
    assert while_quiet and not after_flush
