"""Tools from Model Context Protocol servers (stdio and streamable HTTP), through the official
`mcp` SDK, offered and run like built-ins: same schema validation, timeouts and allowlists.

A turn's calls to one server share one session (TurnSessions: opened on the turn's first call to
that server, closed when the turn's tool loop ends), since starting a stdio server costs seconds.
Nothing is held between turns, so a server that crashed is simply started again by the next one.
A call outside a turn's tool loop opens its own session. Tool lists are remembered for
LIST_TTL_SECONDS per process, since listing costs a start-up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import partial

from jsonschema.exceptions import SchemaError

from gateway.db import in_db_thread
from gateway.tools.models import McpServer, McpTransport
from gateway.tools.registry import ToolError, ToolSpec

log = logging.getLogger(__name__)

LIST_TTL_SECONDS = 60.0
SEPARATOR = "__"  # <server slug>__<tool name>: what the model sees
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_-]")

CLOSE_SECONDS = 10.0  # how long a turn waits for its servers to stop before killing them

_listings: dict[tuple, tuple[float, list[ToolSpec]]] = {}


def _servers(slugs: list[str]) -> list[McpServer]:
    return list(McpServer.objects.filter(slug__in=slugs, enabled=True))


async def mcp_tools(slugs: list[str]) -> list[ToolSpec]:
    """The tools of these servers; one that cannot be listed is left out and logged."""
    specs: list[ToolSpec] = []
    for server in await in_db_thread(_servers)(slugs):
        try:
            specs += await _listed(server)
        except Exception:
            log.warning("MCP server %s could not be listed: its tools are not offered",
                        server.slug, exc_info=True)  # fmt: skip
    return specs


def _identity(server: McpServer) -> tuple:
    # Any edit in admin changes the identity, so a new listing is made at once.
    return (server.pk, server.transport, server.command, tuple(server.args), server.url,
            server.timeout_seconds)  # fmt: skip


async def _listed(server: McpServer) -> list[ToolSpec]:
    key = _identity(server)
    cached = _listings.get(key)
    if cached and time.monotonic() - cached[0] < LIST_TTL_SECONDS:
        return cached[1]
    async with asyncio.timeout(server.timeout_seconds), _session(server) as session:
        listed = await session.list_tools()
    specs = [spec for tool in listed.tools if (spec := _spec(server, tool))]
    _listings[key] = (time.monotonic(), specs)
    return specs


def _spec(server: McpServer, tool) -> ToolSpec | None:
    annotations = tool.annotations
    try:
        return ToolSpec(
            name=_NOT_A_NAME.sub("_", f"{server.slug}{SEPARATOR}{tool.name}")[:64],
            description=(tool.description or tool.name)[:1000],
            parameters=tool.input_schema or {"type": "object"},
            handler=partial(_call, server, tool.name),
            timeout_seconds=server.timeout_seconds,
            # Unless the server says the tool only reads, assume it acts: never cache its answers.
            side_effects=not (annotations and annotations.read_only_hint),
        )
    except SchemaError:
        log.warning("MCP tool %s/%s has an invalid input schema: not offered",
                    server.slug, tool.name)  # fmt: skip
        return None


class TurnSessions:
    """One session per server for one turn's tool loop. Each session is opened and closed by a
    task of its own (the SDK's transports must be left by the task that entered them), while
    calls from any of the turn's tasks share it."""

    def __init__(self) -> None:
        self._opened: dict[tuple, asyncio.Future] = {}
        self._holders: list[asyncio.Task] = []
        self._closing = asyncio.Event()

    async def session(self, server: McpServer):
        key = _identity(server)
        if key not in self._opened:  # no await since the check: parallel calls open it once
            opened = self._opened[key] = asyncio.get_running_loop().create_future()
            self._holders.append(asyncio.create_task(self._hold(server, opened)))
        # Shielded: a call that times out while the server starts must not cancel the start
        # for the turn's other calls.
        return await asyncio.shield(self._opened[key])

    async def _hold(self, server: McpServer, opened: asyncio.Future) -> None:
        try:
            async with _session(server) as session:
                opened.set_result(session)
                await self._closing.wait()
        except BaseException as error:
            if not opened.done():
                closed = ToolError(f"The {server.name} server was stopped before it started.")
                opened.set_exception(error if isinstance(error, Exception) else closed)
            elif not isinstance(error, asyncio.CancelledError):
                log.warning("MCP server %s did not stop cleanly", server.slug, exc_info=True)
            if isinstance(error, asyncio.CancelledError):
                raise

    async def aclose(self) -> None:
        """Stop every server this turn started (cancel, also on the turn's own cancellation)."""
        self._closing.set()
        if not self._holders:
            return
        _, late = await asyncio.wait(self._holders, timeout=CLOSE_SECONDS)
        for holder in late:
            holder.cancel()
        for future in self._opened.values():  # nobody awaits a start that failed: no warning
            if future.done() and not future.cancelled():
                future.exception()


# The current turn's sessions, set by the tool loop in each call's own task.
TURN_SESSIONS: ContextVar[TurnSessions | None] = ContextVar("mcp_turn_sessions", default=None)


async def _call(server: McpServer, name: str, **arguments) -> str | dict:
    """One tool call, in the turn's session with that server (or its own outside a turn). The
    registry bounds it with the server's timeout."""
    try:
        sessions = TURN_SESSIONS.get()
        if sessions is None:
            async with _session(server) as session:
                result = await session.call_tool(name, arguments)
        else:
            result = await (await sessions.session(server)).call_tool(name, arguments)
    except OSError as error:
        raise ToolError(f"The {server.name} server could not be started ({error}).") from None
    text = "\n".join(block.text for block in result.content if block.type == "text")
    if result.is_error:
        raise ToolError(text or f"{name} failed on the {server.name} server.")
    if result.structured_content is not None:
        return result.structured_content
    return text


@asynccontextmanager
async def _session(server: McpServer) -> AsyncIterator:
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if server.transport == McpTransport.STDIO:
        params = StdioServerParameters(command=server.command, args=list(server.args))
        transport = stdio_client(params, errlog=sys.stderr)
    else:
        transport = streamable_http_client(server.url)
    async with transport as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session
