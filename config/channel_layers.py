"""channels_redis's pub/sub layer, with a reader that never naps.

The library's reader loop sleeps 100 ms whenever its connection has no subscription at all —
a quiet process between one websocket closing and the next opening — and looks again only
then. Everything published to the new connection meanwhile waited: on an otherwise idle
process a reply's first frames reached the page ~95 ms late. One subscription that is never
used keeps each shard's reader reading. (The layer is a proxy over one layer per event loop;
the subscription is made once per loop layer. Written against channels-redis 4.x.)
"""

from __future__ import annotations

import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer


class ListeningPubSubChannelLayer(RedisPubSubChannelLayer):
    async def new_channel(self, prefix: str = "specific.") -> str:
        layer = self._get_layer()  # this event loop's layer
        if not getattr(layer, "listening", ""):
            layer.listening = f"{layer.prefix}listening.{uuid.uuid4().hex}"
            for shard in layer._shards:
                await shard.subscribe(layer.listening)
        return await layer.new_channel(prefix)

    async def flush(self) -> None:
        layer = self._get_layer()
        await layer.flush()  # drops every subscription, the keepalive's too
        layer.listening = ""
