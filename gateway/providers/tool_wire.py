"""Tool calls in each provider's wire format: the neutral tool turns of a ChatRequest turned
into OpenAI `tool_calls` / `tool` messages or Anthropic `tool_use` / `tool_result` blocks, and
the streamed pieces of a call put back together."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.providers.base import ToolCall


def openai_tools(tools: tuple[dict, ...]) -> list[dict]:
    return [{"type": "function", "function": dict(tool)} for tool in tools]


def anthropic_tools(tools: tuple[dict, ...]) -> list[dict]:
    return [
        {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
        for t in tools
    ]


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted = []
    for message in messages:
        if message.get("tool_calls"):
            calls = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for call in message["tool_calls"]
            ]
            converted.append(
                {"role": "assistant", "content": message["content"] or None, "tool_calls": calls}
            )
        elif message["role"] == "tool":
            converted.append(
                {
                    "role": "tool",
                    "tool_call_id": message["tool_call_id"],
                    "content": message["content"],
                }
            )
        else:
            converted.append({"role": message["role"], "content": message["content"]})
    return converted


def anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic wants every result of one step in a single user message, right after the
    assistant message that asked for them."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        if message.get("tool_calls"):
            blocks = [{"type": "text", "text": message["content"]}] if message["content"] else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["name"],
                    "input": _input_object(call["arguments"]),
                }
                for call in message["tool_calls"]
            ]
            converted.append({"role": "assistant", "content": blocks})
        elif message["role"] == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": message["content"],
                "is_error": bool(message.get("is_error")),
            }
            previous = converted[-1] if converted else None
            if previous and previous["role"] == "user" and isinstance(previous["content"], list):
                previous["content"].append(block)
            else:
                converted.append({"role": "user", "content": [block]})
        else:
            converted.append({"role": message["role"], "content": message["content"]})
    return converted


def _input_object(arguments: str) -> dict:
    # Anthropic's tool_use.input must be an object; arguments the model garbled were answered
    # with an error result already, so an empty object stands in for them here.
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@dataclass
class PartialCalls:
    """Streamed tool-call pieces, by their index in the reply, joined into whole calls."""

    ids: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    arguments: dict[int, list[str]] = field(default_factory=dict)

    def add(self, index: int, *, id: str = "", name: str = "", arguments: str = "") -> None:
        if id:
            self.ids[index] = id
        if name:
            self.names[index] = self.names.get(index, "") + name
        self.arguments.setdefault(index, []).append(arguments or "")

    def pop(self, index: int) -> ToolCall:
        return ToolCall(
            id=self.ids.pop(index, f"call_{index}"),
            name=self.names.pop(index, ""),
            arguments="".join(self.arguments.pop(index, [])),
        )

    def pop_all(self) -> list[ToolCall]:
        return [self.pop(index) for index in sorted(self.arguments)]
