"""Tools from an MCP server: a real stdio server (tests/mcp_order_server.py) started through the
official SDK, listed and called like a built-in, by the template's allowlist."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.db import connections

from chat.models import Conversation
from devstack.services import free_port
from gateway.events import Done, ToolUse
from gateway.pipeline import Turn, run_turn
from gateway.tools.mcp import mcp_tools
from gateway.tools.models import McpServer
from observability.models import RequestLog
from tests.turns import reply_text, turn_events

pytestmark = pytest.mark.django_db(transaction=True)

SERVER = Path(__file__).with_name("mcp_order_server.py")
QUESTION = "Where is my order A-17?"


@pytest.fixture
def orders_server(db) -> McpServer:
    # Starting Python and the SDK takes seconds on a busy machine: a generous timeout.
    return McpServer.objects.create(
        slug="orders",
        name="Orders",
        transport="stdio",
        command=sys.executable,
        args=[str(SERVER)],
        timeout_seconds=60,
    )


def _conversation(user, template, tools) -> Conversation:
    template.tools = tools
    template.save()
    return Conversation.objects.create(user=user, template=template)


def _script(simulator, **entry) -> None:
    assert simulator.post("/_sim/script", json={"match": QUESTION, **entry}).status_code == 200


def test_a_tool_from_an_mcp_stdio_server_is_offered_and_called(
    make_user, openai_template, simulator, orders_server
):
    conversation = _conversation(make_user(), openai_template, ["calculator", "mcp:orders"])
    _script(simulator, tool_calls=[
        {"name": "orders__order_status", "arguments": {"order_id": "A-17"}}
    ])  # fmt: skip
    _script(simulator, reply="Your order was {{tool_result.status}}.")

    events = turn_events(Turn(conversation.user_id, conversation.id, QUESTION))

    assert isinstance(events[-1], Done)
    (use,) = [e for e in events if isinstance(e, ToolUse)]
    assert use.ok and "shipped on 3 March" in use.result
    assert reply_text(events) == "Your order was shipped on 3 March."
    offered = simulator.get("/_sim/requests").json()["requests"][0]["params"]["tools"]
    by_name = {t["function"]["name"]: t["function"] for t in offered}
    assert set(by_name) == {"calculator", "orders__order_status", "orders__order_history"}
    assert by_name["orders__order_status"]["parameters"]["required"] == ["order_id"]
    log = RequestLog.objects.get(message__conversation=conversation)
    assert log.tools_used[0]["name"] == "orders__order_status"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_turns_calls_to_a_stdio_server_share_one_start_and_it_stops_after(
    make_user, openai_template, simulator, orders_server, tmp_path
):
    starts = tmp_path / "starts"
    orders_server.args = [str(SERVER), "--start-log", str(starts)]
    orders_server.save()
    asyncio.run(mcp_tools(["orders"]))  # listing starts it once; remembered for later turns
    starts.unlink()
    conversation = _conversation(make_user(), openai_template, ["mcp:orders"])
    _script(simulator, tool_calls=[  # two calls at once, then one more in the next step
        {"name": "orders__order_status", "arguments": {"order_id": "A-17"}},
        {"name": "orders__order_status", "arguments": {"order_id": "B-2"}},
    ])  # fmt: skip
    _script(simulator, tool_calls=[
        {"name": "orders__order_status", "arguments": {"order_id": "A-17"}}
    ])  # fmt: skip
    _script(simulator, reply="Your order was {{tool_result.status}}.")

    events = turn_events(Turn(conversation.user_id, conversation.id, QUESTION))

    uses = [e for e in events if isinstance(e, ToolUse)]
    assert [u.ok for u in uses] == [True, True, True]
    assert "waiting for stock" in uses[1].result
    assert reply_text(events) == "Your order was shipped on 3 March."
    (pid,) = starts.read_text().split()  # three calls, one server process
    deadline = time.monotonic() + 15  # the turn's end stops it
    while _running(int(pid)):
        assert time.monotonic() < deadline, "the turn left its MCP server running"
        time.sleep(0.1)


def test_a_turn_cancelled_mid_call_stops_its_mcp_server(
    make_user, openai_template, simulator, orders_server, tmp_path
):
    starts = tmp_path / "starts"
    orders_server.args = [str(SERVER), "--start-log", str(starts)]
    orders_server.save()
    asyncio.run(mcp_tools(["orders"]))
    starts.unlink()
    conversation = _conversation(make_user(), openai_template, ["mcp:orders"])
    _script(simulator, tool_calls=[
        {"name": "orders__order_history", "arguments": {"order_id": "A-17"}}
    ])  # fmt: skip

    async def stopped_mid_call() -> None:
        turn = Turn(conversation.user_id, conversation.id, QUESTION)
        task = asyncio.create_task(_all_events(turn))
        try:
            await _until(starts.exists)  # the server was started for the call
            await asyncio.sleep(1)  # and the call is under way
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await database_sync_to_async(connections.close_all)()

    asyncio.run(stopped_mid_call())

    (pid,) = starts.read_text().split()
    deadline = time.monotonic() + 15
    while _running(int(pid)):
        assert time.monotonic() < deadline, "the cancelled turn left its MCP server running"
        time.sleep(0.1)


async def _all_events(turn: Turn) -> list:
    return [event async for event in run_turn(turn)]


async def _until(condition) -> None:
    for _ in range(600):  # a 60 s bound, not a measurement: start-up on a busy machine
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the MCP server was never started")


def test_an_mcp_tools_arguments_are_validated_and_its_errors_reported(
    make_user, anthropic_template, simulator, orders_server
):
    conversation = _conversation(make_user(), anthropic_template, ["mcp:orders"])
    _script(simulator, tool_calls=[{"name": "orders__order_status", "arguments": {"id": 17}}])
    _script(simulator, tool_calls=[
        {"name": "orders__order_status", "arguments": {"order_id": "Z-9"}}
    ])  # fmt: skip
    _script(simulator, reply="Sorry: {{tool_result.error}}")

    events = turn_events(Turn(conversation.user_id, conversation.id, QUESTION))

    invalid, failed = [e for e in events if isinstance(e, ToolUse)]
    # Checked against the server's schema before anything was sent to it.
    assert not invalid.ok and "order_id" in json.loads(invalid.result)["error"]
    assert not failed.ok and "There is no order Z-9" in failed.result
    # The server's own words reached the model, and through it the user.
    said = reply_text(events)
    assert said.startswith("Sorry: ") and said.endswith("There is no order Z-9.")


def test_a_server_that_cannot_start_leaves_the_other_tools_working(
    make_user, openai_template, simulator
):
    McpServer.objects.create(
        slug="broken", name="Broken", transport="stdio", command="/nonexistent/mcp-server"
    )
    conversation = _conversation(make_user(), openai_template, ["calculator", "mcp:broken"])
    _script(simulator, reply="Fine without it.")

    events = turn_events(Turn(conversation.user_id, conversation.id, QUESTION))

    assert reply_text(events) == "Fine without it." and isinstance(events[-1], Done)
    offered = simulator.get("/_sim/requests").json()["requests"][0]["params"]["tools"]
    assert [t["function"]["name"] for t in offered] == ["calculator"]


@pytest.fixture
def http_orders_server(db):
    """The same server over streamable HTTP, in its own process, until the test ends."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)])
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("the MCP HTTP server did not start") from None
                time.sleep(0.2)
        yield McpServer.objects.create(
            slug="shop", name="Shop", transport="http", url=url, timeout_seconds=30
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_tool_from_a_streamable_http_server_is_called_like_a_built_in(
    make_user, anthropic_template, simulator, http_orders_server
):
    conversation = _conversation(make_user(), anthropic_template, ["mcp:shop"])
    _script(simulator, tool_calls=[
        {"name": "shop__order_status", "arguments": {"order_id": "B-2"}}
    ])  # fmt: skip
    _script(simulator, reply="Your order is {{tool_result.status}}.")

    events = turn_events(Turn(conversation.user_id, conversation.id, QUESTION))

    (use,) = [e for e in events if isinstance(e, ToolUse)]
    assert use.ok and "waiting for stock" in use.result
    assert reply_text(events) == "Your order is waiting for stock."
