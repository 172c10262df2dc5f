"""Running one turn of the real pipeline from a synchronous test."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from django.db import connections

from gateway.events import Delta
from gateway.pipeline import Turn, run_turn


def turn_events(turn: Turn) -> list:
    async def collect():
        try:
            return [event async for event in run_turn(turn)]
        finally:  # the ORM's worker thread outlives the loop: don't leave its connection open
            await database_sync_to_async(connections.close_all)()

    return asyncio.run(collect())


def reply_text(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))
