"""Function calling: a registry of tools with JSON Schema arguments, run with validation and
timeouts. Built-ins live in builtin.py; templates choose which tools a model is offered."""

from gateway.tools.registry import ToolResult, ToolSpec, registry

__all__ = ["ToolResult", "ToolSpec", "registry"]
