"""Stop and resync requests reach a generation from any process, even after a quiet spell."""

from __future__ import annotations

import asyncio
import uuid

from chat.control import ControlBus


def test_a_request_published_elsewhere_reaches_the_registered_generation():
    async def scenario() -> list[str]:
        here, elsewhere = ControlBus(), ControlBus()  # two processes' buses
        conversation = uuid.uuid4()
        received: list[str] = []
        arrived = asyncio.Event()

        async def handler(action: str) -> None:
            received.append(action)
            arrived.set()

        here.register(conversation, handler)
        # Longer than redis-py's default 5 s socket timeout: an idle subscription must survive.
        await asyncio.sleep(6)
        await elsewhere.request(conversation, "stop")
        await asyncio.wait_for(arrived.wait(), 5)
        here.unregister(conversation, handler)
        here.listener.cancel()
        await here.client.aclose()
        await elsewhere.client.aclose()
        return received

    assert asyncio.run(scenario()) == ["stop"]


def test_a_request_for_a_generation_running_here_skips_redis():
    async def scenario() -> list[str]:
        bus = ControlBus()
        bus.client = None  # any use of Redis would fail loudly
        conversation = uuid.uuid4()
        received: list[str] = []

        async def handler(action: str) -> None:
            received.append(action)

        bus.handlers[conversation] = handler
        await bus.request(conversation, "resync")
        return received

    assert asyncio.run(scenario()) == ["resync"]
