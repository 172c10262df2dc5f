"""The tool registry: what a model may call, in a form both providers' APIs accept."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object
    handler: Handler
    timeout_seconds: float = 5.0
    side_effects: bool = False  # a reply that used it is never cached
    time_sensitive: bool = False  # likewise: its answer goes stale

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.parameters)  # a broken schema fails at startup

    def neutral_format(self) -> dict[str, Any]:
        """As a ChatRequest offers it; each provider adapter translates it."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def openai_format(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def anthropic_format(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.parameters}


@dataclass(frozen=True)
class ToolResult:
    """What goes back to the model: the output, or an error it can correct."""

    name: str
    ok: bool
    output: Any = None
    error: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    # The model's own mistake (unknown tool, arguments that do not fit the schema): it may
    # correct it; a tool that failed on good arguments is not.
    invalid: bool = False

    def content(self) -> str:
        """The text the model reads as the tool's result."""
        if self.ok:
            return self.output if isinstance(self.output, str) else json.dumps(self.output)
        return json.dumps({"error": self.error})


class UnknownTool(LookupError):
    pass


class Registry:
    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def register(self, spec: ToolSpec) -> ToolSpec:
        if spec.name in self._tools:
            raise ValueError(f"a tool named {spec.name!r} is already registered")
        self._tools[spec.name] = spec
        return spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(name) from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def allowed(self, names: Iterable[str]) -> list[ToolSpec]:
        """The registered tools among `names` (a template's allowlist), in that order."""
        return [self._tools[name] for name in names if name in self._tools]

    async def call(self, name: str, arguments: str | dict | None) -> ToolResult:
        """Validate and run one call; every failure becomes an error result, never an exception."""
        try:
            spec = self.get(name)
        except UnknownTool:
            return unknown_tool(name, self.names())
        return await run_tool(spec, arguments)


def unknown_tool(name: str, known: Iterable[str]) -> ToolResult:
    error = f"There is no tool named {name!r}. Use: {', '.join(known) or 'none'}."
    return ToolResult(name, False, error=error, invalid=True)


async def run_tool(spec: ToolSpec, arguments: str | dict | None) -> ToolResult:
    """Validate `arguments` against the spec's schema, then run it within its timeout."""
    name = spec.name
    parsed, problem = parse_arguments(spec, arguments)
    if problem:
        return ToolResult(name, False, error=problem, invalid=True)
    try:
        async with asyncio.timeout(spec.timeout_seconds):
            output = await spec.handler(**parsed)
    except TimeoutError:
        error = f"{name} took longer than {spec.timeout_seconds:g} s and was stopped."
        return ToolResult(name, False, error=error, arguments=parsed)
    except ToolError as failure:
        return ToolResult(name, False, error=str(failure), arguments=parsed)
    except Exception as failure:  # a broken tool is reported to the model, never the turn's end
        log.warning("tool %s failed", name, exc_info=True)
        error = f"{name} failed ({type(failure).__name__}); try another way or answer without it."
        return ToolResult(name, False, error=error, arguments=parsed)
    return ToolResult(name, True, output=output, arguments=parsed)


class ToolError(Exception):
    """A tool's own, user-presentable failure (bad expression, unknown unit, ...)."""


def parse_arguments(spec: ToolSpec, arguments: str | dict | None) -> tuple[dict, str]:
    """(arguments, "") when valid, else ({}, a sentence the model can act on)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as error:
            return {}, f"The arguments are not valid JSON ({error.msg}). Send a JSON object."
    arguments = arguments or {}
    if not isinstance(arguments, dict):
        return {}, "The arguments must be a JSON object."
    errors = sorted(Draft202012Validator(spec.parameters).iter_errors(arguments), key=str)
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "arguments"
        return {}, f"Invalid {where}: {errors[0].message}."
    return arguments, ""


registry = Registry()
