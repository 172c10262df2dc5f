"""The tools one turn may use: its template's allowlist, built-ins and MCP servers' tools."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.providers import ToolCall
from gateway.tools import builtin  # noqa: F401  (registers the built-ins)
from gateway.tools.registry import ToolResult, ToolSpec, registry, run_tool, unknown_tool

log = logging.getLogger(__name__)

MCP_PREFIX = "mcp:"


@dataclass(frozen=True)
class Toolbox:
    specs: tuple[ToolSpec, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.specs)

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def offered(self) -> tuple[dict, ...]:
        return tuple(spec.neutral_format() for spec in self.specs)

    def spec(self, name: str) -> ToolSpec | None:
        return next((spec for spec in self.specs if spec.name == name), None)

    async def call(self, call: ToolCall) -> ToolResult:
        """Only the offered tools run: a name outside the allowlist is an unknown tool."""
        spec = self.spec(call.name)
        if spec is None:
            return unknown_tool(call.name, self.names())
        return await run_tool(spec, call.arguments)

    def never_cache(self, used: list[str]) -> str:
        """Why an answer that used these tools must not be cached ("" if it may be)."""
        specs = [spec for name in used if (spec := self.spec(name))]
        if any(spec.side_effects for spec in specs):
            return "tool_side_effects"
        if any(spec.time_sensitive for spec in specs):
            return "tool_time_sensitive"
        return ""


NO_TOOLS = Toolbox()


async def toolbox_for(allowlist: list[str]) -> Toolbox:
    """The allowlisted tools that exist; an MCP server that cannot be reached is left out
    (logged), and the turn goes on with the others."""
    specs = registry.allowed(name for name in allowlist if not name.startswith(MCP_PREFIX))
    servers = [name[len(MCP_PREFIX) :] for name in allowlist if name.startswith(MCP_PREFIX)]
    if servers:
        from gateway.tools.mcp import mcp_tools

        specs += await mcp_tools(servers)
    return Toolbox(tuple(specs))


def tool_choices() -> list[tuple[str, str]]:
    """What a template's allowlist may name: the built-ins and every registered MCP server."""
    from gateway.tools.models import McpServer

    builtins = [(name, name) for name in registry.names()]
    servers = [
        (f"{MCP_PREFIX}{slug}", f"every tool of MCP server {name!r}")
        for slug, name in McpServer.objects.values_list("slug", "name")
    ]
    return builtins + servers
