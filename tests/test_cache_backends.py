"""The Redis caches: one client, and so one connection pool, per process."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.core.cache import caches


def test_every_async_context_shares_one_redis_client():
    # Django keeps a cache object per async context and a websocket turn never sends
    # request_finished: with a client per object, every turn left a Redis connection open.
    def client(alias: str):
        return caches[alias]._cache

    async def clients(alias: str) -> set[int]:
        found = await asyncio.gather(
            *(sync_to_async(client, thread_sensitive=False)(alias) for _ in range(20))
        )
        return {id(each) for each in found}

    for alias in ("default", "ratelimit"):
        assert len(asyncio.run(clients(alias))) == 1
