"""Tools from Model Context Protocol servers (stdio and streamable HTTP), through the official
`mcp` SDK, offered and run like built-ins: same schema validation, timeouts and allowlists.

Each listing and each call opens its own session (a stdio server is started for it and stopped
after): nothing is held between turns, so a server that crashed is simply started again. Tool
lists are remembered for LIST_TTL_SECONDS per process, since listing costs a start-up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from jsonschema.exceptions import SchemaError

from gateway.db import in_db_thread
from gateway.tools.models import McpServer, McpTransport
from gateway.tools.registry import ToolError, ToolSpec

log = logging.getLogger(__name__)

LIST_TTL_SECONDS = 60.0
SEPARATOR = "__"  # <server slug>__<tool name>: what the model sees
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_-]")

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


async def _call(server: McpServer, name: str, **arguments) -> str | dict:
    """One tool call in its own session. The registry bounds it with the server's timeout."""
    try:
        async with _session(server) as session:
            result = await session.call_tool(name, arguments)
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
